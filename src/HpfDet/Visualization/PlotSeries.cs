using ScottPlot;

namespace HpfDet.Visualization;

/// <summary>
/// Shared pieces of the training and comparison charts: the colour cycle, NaN-aware smoothing, and
/// adding a raw-plus-smoothed series to a ScottPlot <see cref="Plot"/>.
/// </summary>
internal static class PlotSeries
{
    public const int Width = 1000;
    public const int Height = 560;

    // Category10: distinguishable for up to 10 series; wraps beyond.
    static readonly Color[] Cycle = new ScottPlot.Palettes.Category10().Colors;

    public static Color ColorAt(int index) => Cycle[((index % Cycle.Length) + Cycle.Length) % Cycle.Length];

    /// <summary>
    /// Trailing moving average over <paramref name="window"/> values, ignoring non-finite values; an
    /// output is NaN where the window holds no finite value.
    /// </summary>
    public static double[] MovingAverage(IReadOnlyList<double> values, int window)
    {
        if (window < 1) throw new ArgumentOutOfRangeException(nameof(window), window, "Window must be at least 1.");
        var result = new double[values.Count];
        double sum = 0;
        int count = 0;
        for (var i = 0; i < values.Count; i++)
        {
            var v = values[i];
            if (double.IsFinite(v)) { sum += v; count++; }
            if (i >= window)
            {
                var old = values[i - window];
                if (double.IsFinite(old)) { sum -= old; count--; }
            }
            result[i] = count > 0 ? sum / count : double.NaN;
        }
        return result;
    }

    /// <summary>A smoothing window of about 1/25 of the series, at least 1 and at most 500 points.</summary>
    public static int DefaultWindow(int count) => Math.Clamp(count / 25, 1, 500);

    /// <summary>Keeps the (x, y) pairs whose y is finite: ScottPlot would draw NaN as gaps of unknown extent.</summary>
    public static (double[] Xs, double[] Ys) Finite(IReadOnlyList<double> xs, IReadOnlyList<double> ys)
    {
        var fx = new List<double>(xs.Count);
        var fy = new List<double>(ys.Count);
        for (var i = 0; i < Math.Min(xs.Count, ys.Count); i++)
            if (double.IsFinite(ys[i]) && double.IsFinite(xs[i])) { fx.Add(xs[i]); fy.Add(ys[i]); }
        return (fx.ToArray(), fy.ToArray());
    }

    /// <summary>
    /// Adds <paramref name="ys"/> as a thin translucent line and, when <paramref name="window"/> &gt; 1,
    /// its moving average as a thicker line carrying the legend entry. Returns false when no point is finite.
    /// </summary>
    public static bool AddRawAndSmoothed(Plot plot, IReadOnlyList<double> xs, IReadOnlyList<double> ys, Color color, string legend, int window)
    {
        var (rx, ry) = Finite(xs, ys);
        if (rx.Length == 0) return false;
        if (window > 1)
        {
            var raw = plot.Add.ScatterLine(rx, ry, color.WithAlpha(0.25));
            raw.LineWidth = 1;
            var (sx, sy) = Finite(xs, MovingAverage(ys, window));
            var smooth = plot.Add.ScatterLine(sx, sy, color);
            smooth.LineWidth = 2;
            smooth.LegendText = legend;
        }
        else
        {
            var line = plot.Add.ScatterLine(rx, ry, color);
            line.LineWidth = 1.5f;
            line.LegendText = legend;
        }
        return true;
    }

    /// <summary>
    /// A new plot using the sans typeface of the box labels (ScottPlot's own pick follows SkiaSharp's
    /// default, a serif face on some systems).
    /// </summary>
    public static Plot NewPlot()
    {
        var plot = new Plot();
        var typeface = DrawingFonts.Sans;
        if (File.Exists(DrawingFonts.Source)) Fonts.AddFontFile(typeface.FamilyName, DrawingFonts.Source);
        // Font.Set also changes ScottPlot's process-wide default font; put that back.
        var previousDefault = Fonts.Default;
        plot.Font.Set(typeface.FamilyName);
        Fonts.Default = previousDefault;
        return plot;
    }

    /// <summary>Writes the plot as a PNG of the standard size and returns the path.</summary>
    public static string Save(Plot plot, string path, int width = Width, int height = Height)
    {
        plot.SavePng(path, width, height);
        return path;
    }

    /// <summary>Level names P3, P4, ... for <paramref name="count"/> levels unless given.</summary>
    public static IReadOnlyList<string> LevelNames(int count, IReadOnlyList<string>? given)
    {
        var names = new string[count];
        for (var l = 0; l < count; l++)
            names[l] = given != null && l < given.Count ? given[l] : $"P{l + 3}";
        return names;
    }
}
