using System.Text;
using ScottPlot;

namespace HpfDet.Visualization;

/// <summary>One loss's runs with their COCO numbers after each evaluated epoch (epoch → the 12 numbers).</summary>
/// <param name="ColorIndex">Index into the chart colours, so a loss keeps its colour across panels.</param>
internal sealed record EpochSeries(string Loss, int ColorIndex, IReadOnlyList<(int Seed, SortedDictionary<int, double[]> Epochs)> Runs)
{
    /// <summary>Every epoch that some run evaluated, in order.</summary>
    public int[] Epochs => Runs.SelectMany(r => r.Epochs.Keys).Distinct().Order().ToArray();

    /// <summary>The defined values of statistic <paramref name="stat"/> after <paramref name="epoch"/>, one per run that has it, by seed.</summary>
    public List<(int Seed, double Value)> Values(int epoch, int stat) =>
        Runs.Where(r => r.Epochs.TryGetValue(epoch, out var s) && s.Length > stat && double.IsFinite(s[stat]) && s[stat] >= 0)
            .Select(r => (r.Seed, r.Epochs[epoch][stat])).ToList();
}

/// <summary>
/// AP after each evaluated epoch, per loss over seeds: the Markdown table (mean ± std) and the chart series
/// (mean line, a band of ±1 sample std, min–max with two seeds, and each seed as a faint point).
/// </summary>
internal static class EpochCurves
{
    /// <summary>Rows: every epoch some run evaluated; columns: the losses; cells mean ± std with (n=k) where runs lack that epoch.</summary>
    public static void AppendTable(StringBuilder md, IReadOnlyList<EpochSeries> series, int stat = 0)
    {
        var epochs = series.SelectMany(s => s.Epochs).Distinct().Order().ToArray();
        md.AppendLine($"| epoch | {string.Join(" | ", series.Select(s => $"{s.Loss} ({s.Runs.Count} run{(s.Runs.Count == 1 ? "" : "s")})"))} |");
        md.AppendLine($"|---:|{string.Concat(series.Select(_ => "---:|"))}");
        foreach (var epoch in epochs)
            md.AppendLine($"| {epoch} | {string.Join(" | ", series.Select(s => CompareReport.FormatMeanStd(CompareReport.MeanStd(s.Values(epoch, stat).Select(v => v.Value)), s.Runs.Count)))} |");
        md.AppendLine();
    }

    /// <summary>(lower, upper) of the band: mean ± std for three or more values, min–max for two, the value for one.</summary>
    internal static (double Lower, double Upper) Band(IReadOnlyList<double> values)
    {
        var (mean, std, count) = CompareReport.MeanStd(values);
        return count switch
        {
            0 => (double.NaN, double.NaN),
            1 => (mean, mean),
            2 => (values.Min(), values.Max()),
            _ => (mean - std, mean + std),
        };
    }

    /// <summary>Adds each loss's curve of statistic <paramref name="stat"/> to <paramref name="plot"/>; false when nothing was drawn.</summary>
    public static bool AddToPlot(Plot plot, IReadOnlyList<EpochSeries> series, int stat = 0)
    {
        var drawn = false;
        for (var i = 0; i < series.Count; i++)
        {
            var s = series[i];
            var color = PlotSeries.ColorAt(s.ColorIndex);
            var epochs = s.Epochs.Where(e => s.Values(e, stat).Count > 0).ToArray();
            if (epochs.Length == 0) continue;
            drawn = true;
            var xs = epochs.Select(e => (double)e).ToArray();
            var values = epochs.Select(e => s.Values(e, stat).Select(v => v.Value).ToArray()).ToArray();
            var mostRuns = values.Max(v => v.Length);
            if (mostRuns > 1)
            {
                var bands = values.Select(Band).ToArray();
                var band = plot.Add.FillY(xs, bands.Select(b => b.Lower).ToArray(), bands.Select(b => b.Upper).ToArray());
                band.FillColor = color.WithAlpha(0.18);
                band.LineWidth = 0;
            }
            // Each seed as a faint point, the losses spread a little sideways so equal values stay visible.
            var offset = series.Count == 1 ? 0 : 0.12 * (i - (series.Count - 1) / 2.0) / Math.Max(1, series.Count - 1);
            var px = epochs.SelectMany((e, k) => values[k].Select(_ => e + offset)).ToArray();
            var py = values.SelectMany(v => v).ToArray();
            var points = plot.Add.ScatterPoints(px, py, color.WithAlpha(0.4));
            points.MarkerSize = 5;
            var mean = plot.Add.Scatter(xs, values.Select(v => v.Average()).ToArray(), color);
            mean.LineWidth = 2;
            mean.MarkerSize = 6;
            mean.LegendText = mostRuns switch
            {
                1 => $"{s.Loss}: 1 seed",
                2 => $"{s.Loss}: mean of 2 seeds, min–max",
                _ => $"{s.Loss}: mean of {mostRuns} seeds, ±1 std",
            };
        }
        if (drawn) plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        return drawn;
    }
}
