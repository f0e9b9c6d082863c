using HpfDet.Training;
using ScottPlot;

namespace HpfDet.Visualization;

/// <summary>
/// The charts of one training run, drawn from its log records: losses, learning rate, per-level γ, α,
/// share of positives and mean -log p, and the validation AP per epoch.
/// </summary>
public static class TrainingPlots
{
    /// <summary>
    /// Writes into <paramref name="plotsDir"/> (created if missing): loss.png, lr.png, and, when the
    /// records carry per-level values, gamma.png, alpha.png, positives.png, mean_neg_log_p.png; ap.png
    /// when <paramref name="evaluations"/> is not empty. Non-finite values (NaN γ or -log p on a level
    /// without positives) are left out of the lines. Dashed lines mark <paramref name="gammaLowerBound"/>
    /// and <paramref name="gammaUpperBound"/> when some γ reaches them.
    /// </summary>
    /// <param name="levelNames">Names of the pyramid levels; P3, P4, ... when null.</param>
    /// <returns>The paths written, in the order above.</returns>
    public static IReadOnlyList<string> WriteAll(
        IReadOnlyList<IterationLog> iterations, IReadOnlyList<EvaluationLog> evaluations, string plotsDir,
        IReadOnlyList<string>? levelNames = null, double? gammaLowerBound = null, double? gammaUpperBound = null)
    {
        ArgumentNullException.ThrowIfNull(iterations);
        ArgumentNullException.ThrowIfNull(evaluations);
        Directory.CreateDirectory(plotsDir);
        var written = new List<string>();
        if (iterations.Count > 0)
        {
            var xs = iterations.Select(r => (double)r.Iteration).ToArray();
            var window = PlotSeries.DefaultWindow(iterations.Count);
            written.Add(WriteLoss(iterations, xs, window, Path.Combine(plotsDir, "loss.png")));
            written.Add(WriteLearningRate(iterations, xs, Path.Combine(plotsDir, "lr.png")));

            var gamma = PerLevel(iterations, r => r.Gamma);
            if (gamma.Length > 0)
            {
                var names = PlotSeries.LevelNames(gamma.Length, levelNames);
                var plot = PerLevelPlot(xs, gamma, names, window, "Per-level γ", "γ");
                AddBoundIfReached(plot, gamma, gammaLowerBound, "lower bound");
                AddBoundIfReached(plot, gamma, gammaUpperBound, "upper bound");
                written.Add(PlotSeries.Save(plot, Path.Combine(plotsDir, "gamma.png")));
            }
            var alpha = PerLevel(iterations, r => r.Alpha);
            if (alpha.Length > 0)
                written.Add(PlotSeries.Save(PerLevelPlot(xs, alpha, PlotSeries.LevelNames(alpha.Length, levelNames), window, "Per-level α", "α"),
                    Path.Combine(plotsDir, "alpha.png")));
            var share = PositiveShares(iterations);
            if (share.Length > 0)
                written.Add(PlotSeries.Save(PerLevelPlot(xs, share, PlotSeries.LevelNames(share.Length, levelNames), window,
                    "Share of positives per level", "positives_l / Σ positives"), Path.Combine(plotsDir, "positives.png")));
            var negLogP = PerLevel(iterations, r => r.MeanNegLogP);
            if (negLogP.Length > 0)
                written.Add(PlotSeries.Save(PerLevelPlot(xs, negLogP, PlotSeries.LevelNames(negLogP.Length, levelNames), window,
                    "Mean -log p of the positives' class", "-log p"), Path.Combine(plotsDir, "mean_neg_log_p.png")));
        }
        if (evaluations.Count > 0)
            written.Add(WriteAp(evaluations, Path.Combine(plotsDir, "ap.png")));
        return written;
    }

    /// <summary>Reads <paramref name="logJsonlPath"/> (log.jsonl, or its compressed log.jsonl.gz) and writes its charts as <see cref="WriteAll"/> does.</summary>
    public static IReadOnlyList<string> WriteFromLog(string logJsonlPath, string plotsDir)
    {
        if (!File.Exists(logJsonlPath) && !File.Exists(logJsonlPath + ".gz"))
            throw new HpfDetException($"Training log '{logJsonlPath}' not found: pass the log.jsonl (or log.jsonl.gz) of a run folder.");
        var (iterations, evaluations) = TrainingLogJson.Read(logJsonlPath);
        return WriteAll(iterations, evaluations, plotsDir);
    }

    static string WriteLoss(IReadOnlyList<IterationLog> iterations, double[] xs, int window, string path)
    {
        var plot = PlotSeries.NewPlot();
        // The total, then every term the detector logged (in the order of the first iteration).
        var terms = iterations.Count > 0 ? iterations[0].Losses.Keys.ToList() : [];
        var series = terms.Select(name => (Name: name, Value: (Func<IterationLog, double>)(r => r.Losses.TryGetValue(name, out var v) ? v : double.NaN)))
            .Prepend(("total", r => r.Loss)).ToArray();
        for (var s = 0; s < series.Length; s++)
            PlotSeries.AddRawAndSmoothed(plot, xs, iterations.Select(series[s].Value).ToArray(), PlotSeries.ColorAt(s), series[s].Name, window);
        Label(plot, $"Loss (thin: per iteration; thick: moving average of {window})", "loss");
        return PlotSeries.Save(plot, path);
    }

    static string WriteLearningRate(IReadOnlyList<IterationLog> iterations, double[] xs, string path)
    {
        var plot = PlotSeries.NewPlot();
        PlotSeries.AddRawAndSmoothed(plot, xs, iterations.Select(r => r.LearningRate).ToArray(), PlotSeries.ColorAt(0), "learning rate", 1);
        Label(plot, "Learning rate", "learning rate");
        return PlotSeries.Save(plot, path);
    }

    static string WriteAp(IReadOnlyList<EvaluationLog> evaluations, string path)
    {
        var plot = PlotSeries.NewPlot();
        var epochs = evaluations.Select(e => (double)e.Epoch).ToArray();
        (string Name, int Index)[] series = [("AP", 0), ("AP50", 1)];
        for (var s = 0; s < series.Length; s++)
        {
            // COCO marks an undefined statistic with -1.
            var ys = evaluations.Select(e => e.Stats.Length > series[s].Index && e.Stats[series[s].Index] >= 0 ? e.Stats[series[s].Index] : double.NaN).ToArray();
            var (fx, fy) = PlotSeries.Finite(epochs, ys);
            if (fx.Length == 0) continue;
            var line = plot.Add.Scatter(fx, fy, PlotSeries.ColorAt(s));
            line.LineWidth = 2;
            line.MarkerSize = 6;
            line.LegendText = series[s].Name;
        }
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        plot.Title("Validation AP");
        plot.XLabel("epoch");
        plot.YLabel("AP");
        plot.ShowLegend(Edge.Right);
        return PlotSeries.Save(plot, path);
    }

    static Plot PerLevelPlot(double[] xs, double[][] perLevel, IReadOnlyList<string> names, int window, string title, string yLabel)
    {
        var plot = PlotSeries.NewPlot();
        for (var l = 0; l < perLevel.Length; l++)
            PlotSeries.AddRawAndSmoothed(plot, xs, perLevel[l], PlotSeries.ColorAt(l), names[l], window);
        Label(plot, window > 1 ? $"{title} (moving average of {window})" : title, yLabel);
        return plot;
    }

    static void AddBoundIfReached(Plot plot, double[][] perLevel, double? bound, string name)
    {
        if (bound is not double b) return;
        const double tolerance = 1e-6;
        var reached = perLevel.Any(level => level.Any(v => double.IsFinite(v) && Math.Abs(v - b) <= tolerance * Math.Max(1, Math.Abs(b))));
        if (!reached) return;
        var line = plot.Add.HorizontalLine(b, 1.5f, Colors.Gray, LinePattern.Dashed);
        line.LegendText = $"{name} {b:G4}";
    }

    static void Label(Plot plot, string title, string yLabel)
    {
        plot.Title(title);
        plot.XLabel("iteration");
        plot.YLabel(yLabel);
        plot.ShowLegend(Edge.Right);
    }

    /// <summary>[L][N] per-level values of the N records; NaN where a record has fewer levels.</summary>
    internal static double[][] PerLevel(IReadOnlyList<IterationLog> iterations, Func<IterationLog, double[]?> select)
    {
        var levels = iterations.Max(r => select(r)?.Length ?? 0);
        var result = new double[levels][];
        for (var l = 0; l < levels; l++)
        {
            result[l] = new double[iterations.Count];
            for (var i = 0; i < iterations.Count; i++)
            {
                var values = select(iterations[i]);
                result[l][i] = values != null && l < values.Length ? values[l] : double.NaN;
            }
        }
        return result;
    }

    /// <summary>[L][N] positives_l / Σ_l positives per record; NaN where a batch has no positive.</summary>
    internal static double[][] PositiveShares(IReadOnlyList<IterationLog> iterations)
    {
        var levels = iterations.Max(r => r.Positives?.Length ?? 0);
        var result = new double[levels][];
        for (var l = 0; l < levels; l++) result[l] = new double[iterations.Count];
        for (var i = 0; i < iterations.Count; i++)
        {
            var positives = iterations[i].Positives ?? [];
            double total = positives.Sum();
            for (var l = 0; l < levels; l++)
                result[l][i] = total > 0 && l < positives.Length ? positives[l] / total : double.NaN;
        }
        return result;
    }
}
