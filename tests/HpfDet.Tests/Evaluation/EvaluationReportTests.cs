using System.Text.Json;
using HpfDet.Cli.Commands;
using HpfDet.Evaluation;
using HpfDet.Tests.Infrastructure;

namespace HpfDet.Tests.Evaluation;

public class EvaluationReportTests
{
    static string OracleCase(string name) => Path.Combine(TestPaths.OracleDir, "coco", name);

    [Theory]
    [InlineData(0.0625, "0.062")]   // exact ties round half to even, as Python's format does
    [InlineData(0.1875, "0.188")]
    [InlineData(0.3125, "0.312")]
    [InlineData(0.9375, "0.938")]
    [InlineData(0.0635, "0.064")]   // the double is just above the tie
    [InlineData(0.0005, "0.001")]
    [InlineData(0.9999999999999998, "1.000")]
    [InlineData(-1.0, "-1.000")]
    [InlineData(0.00025, "0.000")]
    public void Fixed3FormatsLikePython(double value, string expected) => Assert.Equal(expected, PyNumerics.Fixed3(value));

    [Fact]
    public void LinspaceIsNumpys()
    {
        var t = PyNumerics.Linspace(0.5, 0.95, 10);
        Assert.Equal(0.8999999999999999, t[8]);
        Assert.Equal(0.95, t[9]);
        var r = PyNumerics.Linspace(0, 1, 101);
        Assert.Equal(0.35000000000000003, r[35]); // 35 * 0.01, not 35 / 100
        Assert.NotEqual(35 / 100.0, r[35]);
    }

    [Fact]
    public void JsonHoldsStatsPerCategoryAndVoc()
    {
        var dir = OracleCase("02_crowd_ignore");
        var gt = CocoGroundTruth.Load(Path.Combine(dir, "gt.json"));
        var dts = CocoDetections.Load(Path.Combine(dir, "dt.json"));
        var result = CocoEvaluator.Evaluate(gt, dts);
        var voc = VocEvaluator.Evaluate(gt, dts);
        using var doc = JsonDocument.Parse(EvaluationReport.ToJson(result, voc));
        var root = doc.RootElement;
        Assert.Equal(result.Stats, root.GetProperty("stats").EnumerateArray().Select(x => x.GetDouble()));
        var cats = root.GetProperty("per_category").EnumerateArray().ToList();
        Assert.Equal(3, cats.Count);
        Assert.Equal("onlycrowd", cats[2].GetProperty("name").GetString());
        Assert.All(cats[2].GetProperty("stats").EnumerateArray(), x => Assert.Equal(-1, x.GetDouble()));
        Assert.Equal(voc.MeanAp, root.GetProperty("voc_map50").GetDouble());
    }

    [Fact]
    public void TableHasOneRowPerCategoryAndATotal()
    {
        var dir = OracleCase("04_empty_images_cats");
        var result = CocoEvaluator.Evaluate(CocoGroundTruth.Load(Path.Combine(dir, "gt.json")), CocoDetections.Load(Path.Combine(dir, "dt.json")));
        var lines = EvaluationReport.FormatPerCategoryTable(result).TrimEnd('\n').Split('\n');
        Assert.Equal(2 + result.PerCategory.Count + 1, lines.Length);
        Assert.Contains("nodet", lines[3]);
    }

    [Fact]
    public void PlotterWritesAPng()
    {
        var dir = OracleCase("09_realistic");
        var result = CocoEvaluator.Evaluate(CocoGroundTruth.Load(Path.Combine(dir, "gt.json")), CocoDetections.Load(Path.Combine(dir, "dt.json")));
        using var outDir = TestPaths.NewTempDir();
        var path = PrPlotter.Write(result, Path.Combine(outDir, "pr.png"), 400, 300);
        var bytes = File.ReadAllBytes(path);
        Assert.True(bytes.Length > 1000);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
    }

    [Fact]
    public void EvalCommandFileFormWritesMetrics()
    {
        var dir = OracleCase("03_area_boundaries");
        using var outDir = TestPaths.NewTempDir();
        var json = Path.Combine(outDir, "metrics.json");
        var output = new StringWriter();
        var code = EvalCommand.RunFileEvaluation(Path.Combine(dir, "gt.json"), Path.Combine(dir, "dt.json"), json, outDir, output);
        Assert.Equal(0, code);
        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "expected.json")));
        using var written = JsonDocument.Parse(File.ReadAllText(json));
        var want = expected.RootElement.GetProperty("stats").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        var got = written.RootElement.GetProperty("stats").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        for (var i = 0; i < 12; i++) Assert.True(Math.Abs(want[i] - got[i]) <= 1e-12);
        var firstLine = expected.RootElement.GetProperty("summary_text")[0].GetString()!;
        Assert.Contains(firstLine, output.ToString());
        Assert.True(File.Exists(Path.Combine(outDir, "pr_curves.png")));
    }

    [Theory]
    [InlineData("eval --gt a.json")]
    [InlineData("eval --results b.json")]
    [InlineData("eval")]
    public void EvalCommandNeedsGtAndResultsTogether(string args)
    {
        var root = new System.CommandLine.RootCommand();
        root.Subcommands.Add(EvalCommand.Create());
        Assert.NotEmpty(root.Parse(args).Errors);
    }
}
