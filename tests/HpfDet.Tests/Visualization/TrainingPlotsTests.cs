using HpfDet.Tests.Infrastructure;
using HpfDet.Training;
using HpfDet.Visualization;
using SkiaSharp;

namespace HpfDet.Tests.Visualization;

public class TrainingPlotsTests
{
    // The documented chart size.
    const int Width = 1000, Height = 560;

    static void AssertChart(string path)
    {
        Assert.True(File.Exists(path), $"{path} missing");
        using var bitmap = SKBitmap.Decode(path);
        Assert.NotNull(bitmap);
        Assert.Equal((Width, Height), (bitmap.Width, bitmap.Height));
        // Something beyond a blank background was drawn: axes, text, coloured lines.
        var colours = new HashSet<uint>();
        for (var y = 0; y < bitmap.Height; y += 3)
            for (var x = 0; x < bitmap.Width; x += 3)
                colours.Add((uint)bitmap.GetPixel(x, y));
        Assert.True(colours.Count > 20, $"{path}: only {colours.Count} colours");
    }

    [Fact]
    public void WriteAll_writes_every_chart_as_a_decodable_png()
    {
        using var dir = TestPaths.NewTempDir("hpfdet-viz");
        var written = TrainingPlots.WriteAll(VisualizationTestLogs.Iterations(), VisualizationTestLogs.Evaluations(), dir,
            gammaLowerBound: 0, gammaUpperBound: 4);
        string[] expected = ["loss.png", "lr.png", "gamma.png", "alpha.png", "positives.png", "mean_neg_log_p.png", "ap.png"];
        Assert.Equal(expected.Select(f => Path.Combine(dir, f)), written);
        foreach (var path in written) AssertChart(path);
    }

    [Fact]
    public void WriteAll_without_evaluations_leaves_out_ap()
    {
        using var dir = TestPaths.NewTempDir("hpfdet-viz");
        var written = TrainingPlots.WriteAll(VisualizationTestLogs.Iterations(20), [], dir);
        Assert.DoesNotContain(written, p => p.EndsWith("ap.png"));
        Assert.False(File.Exists(Path.Combine(dir, "ap.png")));
        Assert.Contains(Path.Combine(dir, "loss.png"), written);
    }

    [Fact]
    public void WriteFromLog_reads_log_jsonl()
    {
        using var dir = TestPaths.NewTempDir("hpfdet-viz");
        var log = Path.Combine(dir, "log.jsonl");
        File.WriteAllLines(log, VisualizationTestLogs.Iterations(30).Select(TrainingLogJson.ToLine)
            .Concat(VisualizationTestLogs.Evaluations(3).Select(TrainingLogJson.ToLine)));
        var written = TrainingPlots.WriteFromLog(log, Path.Combine(dir, "plots"));
        Assert.Equal(7, written.Count);
        foreach (var path in written) AssertChart(path);
    }

    [Fact]
    public void WriteFromLog_names_a_missing_file()
    {
        using var dir = TestPaths.NewTempDir("hpfdet-viz");
        var e = Assert.Throws<HpfDetException>(() => TrainingPlots.WriteFromLog("/nonexistent/log.jsonl", dir));
        Assert.Contains("/nonexistent/log.jsonl", e.Message);
    }

    [Fact]
    public void Moving_average_skips_nan()
    {
        // Window 2 by hand: [1], [1, NaN], [NaN, 3], [3, 5], [5, NaN], [NaN, NaN].
        var ma = PlotSeries.MovingAverage([1, double.NaN, 3, 5, double.NaN, double.NaN], 2);
        Assert.Equal([1, 1, 3, 4, 5], ma.Take(5));
        Assert.True(double.IsNaN(ma[5]));
    }

    [Fact]
    public void Positive_shares_divide_by_the_batch_total()
    {
        var iterations = VisualizationTestLogs.Iterations(10);
        var shares = TrainingPlots.PositiveShares(iterations);
        // Iteration 1: positives 41, 30, 20, 8, 2 (total 101); iteration 10 has none.
        Assert.Equal(41.0 / 101, shares[0][0], 12);
        Assert.Equal(2.0 / 101, shares[4][0], 12);
        Assert.All(shares, level => Assert.True(double.IsNaN(level[9])));
    }
}
