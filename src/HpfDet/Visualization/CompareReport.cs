using System.Globalization;
using System.Text;
using HpfDet.Training;
using ScottPlot;

namespace HpfDet.Visualization;

/// <summary>One finished run to compare: its final validation numbers and where its log lies.</summary>
/// <param name="Loss">Classification loss name (focal, hpf, qfl, vfl, ...); runs are grouped by it.</param>
/// <param name="RunDir">The run folder; its log.jsonl feeds the curves.</param>
/// <param name="Stats">The 12 COCO numbers (AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl); -1 where undefined.</param>
/// <param name="PerClassAP">AP per class in the order of <paramref name="ClassNames"/>; -1 where undefined.</param>
/// <param name="VocMap50">Pascal VOC mAP@0.5.</param>
public sealed record CompareRun(string Loss, int Seed, string RunDir, double[] Stats, double[] PerClassAP, IReadOnlyList<string> ClassNames, double VocMap50);

/// <summary>
/// The report of <c>hpfdet compare</c>: report.md with every run, mean ± sample standard deviation
/// (over seeds, n - 1) per loss and per class, AP after each evaluated epoch, the paired differences
/// between losses that share seeds, and the charts ap_by_loss.png, ap_by_epoch.png, loss_curves.png,
/// gamma_trajectories.png and positive_proportions.png, and the same numbers as summary.json for tools.
/// Tables and figures only, no commentary.
/// </summary>
public static class CompareReport
{
    static readonly string[] StatNames = ["AP", "AP50", "AP75", "APs", "APm", "APl"];

    /// <summary>
    /// Writes report.md and the charts into <paramref name="outDir"/> (created if missing). A chart
    /// that needs logs is left out when no run has one, and the report says which logs were missing.
    /// </summary>
    /// <returns>The path of report.md.</returns>
    public static string Write(IReadOnlyList<CompareRun> runs, string outDir, string title)
    {
        ArgumentNullException.ThrowIfNull(runs);
        if (runs.Count == 0) throw new HpfDetException("No runs to compare: pass at least one run folder.");
        Validate(runs);
        Directory.CreateDirectory(outDir);

        var losses = runs.Select(r => r.Loss).Distinct(StringComparer.Ordinal).ToList();
        var byLoss = losses.ToDictionary(l => l, l => runs.Where(r => r.Loss == l).OrderBy(r => r.Seed).ToList(), StringComparer.Ordinal);
        var ordered = losses.SelectMany(l => byLoss[l]).ToList();

        var logs = new Dictionary<CompareRun, List<IterationLog>>();
        var missingLogs = new List<CompareRun>();
        foreach (var run in ordered)
        {
            var path = TrainingLogJson.Find(run.RunDir);
            if (path is not null) logs[run] = TrainingLogJson.Read(path).Iterations;
            else missingLogs.Add(run);
        }

        var md = new StringBuilder();
        md.AppendLine($"# {title}").AppendLine();
        AppendRunTable(md, ordered);
        AppendLossSummary(md, losses, byLoss);
        AppendPerClass(md, losses, byLoss, runs[0].ClassNames);
        var epochSeries = losses.Select((l, i) => new EpochSeries(l, i, byLoss[l].Select(r => (r.Seed, CompareFolder.ReadEpochStats(r.RunDir))).ToList())).ToList();
        if (epochSeries.Any(s => s.Epochs.Length > 0))
        {
            md.AppendLine("## AP after each evaluated epoch (mean ± std)").AppendLine();
            EpochCurves.AppendTable(md, epochSeries);
        }
        AppendPairedDifferences(md, losses, byLoss);
        AppendLevelTables(md, losses, byLoss, logs);

        md.AppendLine("## Charts").AppendLine();
        var charts = new List<(string File, string? Skipped)>
        {
            (WriteApByLoss(losses, byLoss, Path.Combine(outDir, "ap_by_loss.png")), null),
            WriteApByEpoch(epochSeries, Path.Combine(outDir, "ap_by_epoch.png")),
        };
        charts.Add(WriteLossCurves(losses, byLoss, logs, Path.Combine(outDir, "loss_curves.png")));
        charts.Add(WriteGammaTrajectories(ordered, logs, Path.Combine(outDir, "gamma_trajectories.png")));
        charts.Add(WritePositiveProportions(losses, byLoss, logs, Path.Combine(outDir, "positive_proportions.png")));
        foreach (var (file, skipped) in charts)
        {
            var name = Path.GetFileName(file);
            md.AppendLine(skipped == null ? $"![{Path.GetFileNameWithoutExtension(name)}]({name})" : $"- {name}: not written ({skipped}).").AppendLine();
        }
        if (missingLogs.Count > 0)
        {
            md.AppendLine($"Runs without log.jsonl or log.jsonl.gz ({missingLogs.Count} of {ordered.Count}), left out of the curves:").AppendLine();
            foreach (var run in missingLogs) md.AppendLine($"- {run.Loss}, seed {run.Seed}: `{run.RunDir}`");
            md.AppendLine();
        }

        var reportPath = Path.Combine(outDir, "report.md");
        File.WriteAllText(reportPath, md.ToString());
        WriteSummaryJson(Path.Combine(outDir, "summary.json"), title, losses, byLoss, logs);
        return reportPath;
    }

    /// <summary>
    /// Mean and sample standard deviation (n - 1) of the defined values (finite, not negative: COCO
    /// writes -1 for undefined); Std is NaN for n &lt; 2, Mean NaN for n = 0.
    /// </summary>
    internal static (double Mean, double Std, int Count) MeanStd(IEnumerable<double> values)
    {
        var defined = values.Where(v => double.IsFinite(v) && v >= 0).ToArray();
        if (defined.Length == 0) return (double.NaN, double.NaN, 0);
        var mean = defined.Average();
        if (defined.Length < 2) return (mean, double.NaN, defined.Length);
        var variance = defined.Sum(v => (v - mean) * (v - mean)) / (defined.Length - 1);
        return (mean, Math.Sqrt(variance), defined.Length);
    }

    /// <summary>"0.350 ± 0.071"; "0.350" for one value; "–" for none; "(n=k)" appended when some of <paramref name="total"/> were undefined.</summary>
    internal static string FormatMeanStd((double Mean, double Std, int Count) s, int total)
    {
        if (s.Count == 0) return "–";
        var text = s.Count < 2 ? F(s.Mean) : $"{F(s.Mean)} ± {F(s.Std)}";
        return s.Count < total ? $"{text} (n={s.Count})" : text;
    }

    static string F(double v) => double.IsFinite(v) && v >= 0 ? v.ToString("0.000", CultureInfo.InvariantCulture) : "–";

    static void Validate(IReadOnlyList<CompareRun> runs)
    {
        var classNames = runs[0].ClassNames;
        foreach (var run in runs)
        {
            var where = $"run '{run.RunDir}' ({run.Loss}, seed {run.Seed})";
            if (run.Stats == null || run.Stats.Length < StatNames.Length)
                throw new HpfDetException($"{where}: {run.Stats?.Length ?? 0} COCO statistics, expected 12: re-run its evaluation.");
            if (!run.ClassNames.SequenceEqual(classNames))
                throw new HpfDetException($"{where}: classes [{string.Join(", ", run.ClassNames)}] differ from [{string.Join(", ", classNames)}] of '{runs[0].RunDir}': compare runs on the same dataset.");
            if (run.PerClassAP == null || run.PerClassAP.Length != classNames.Count)
                throw new HpfDetException($"{where}: {run.PerClassAP?.Length ?? 0} per-class AP values for {classNames.Count} classes: re-run its evaluation.");
        }
        var duplicate = runs.GroupBy(r => (r.Loss, r.Seed)).FirstOrDefault(g => g.Count() > 1);
        if (duplicate != null)
            throw new HpfDetException($"Runs {string.Join(", ", duplicate.Select(r => $"'{r.RunDir}'"))} share loss {duplicate.Key.Loss} and seed {duplicate.Key.Seed}: pass each run once.");
    }

    static void AppendRunTable(StringBuilder md, IReadOnlyList<CompareRun> ordered)
    {
        md.AppendLine("## Runs").AppendLine();
        md.AppendLine($"| Loss | Seed | {string.Join(" | ", StatNames)} | VOC mAP50 |");
        md.AppendLine($"|---|---:|{string.Concat(StatNames.Select(_ => "---:|"))}---:|");
        foreach (var run in ordered)
            md.AppendLine($"| {run.Loss} | {run.Seed} | {string.Join(" | ", run.Stats.Take(StatNames.Length).Select(F))} | {F(run.VocMap50)} |");
        md.AppendLine();
    }

    static void AppendLossSummary(StringBuilder md, IReadOnlyList<string> losses, Dictionary<string, List<CompareRun>> byLoss)
    {
        md.AppendLine("## Mean ± std per loss (std over seeds, n − 1)").AppendLine();
        md.AppendLine($"| Loss | n | {string.Join(" | ", StatNames)} | VOC mAP50 |");
        md.AppendLine($"|---|---:|{string.Concat(StatNames.Select(_ => "---:|"))}---:|");
        foreach (var loss in losses)
        {
            var group = byLoss[loss];
            var cells = Enumerable.Range(0, StatNames.Length).Select(i => FormatMeanStd(MeanStd(group.Select(r => r.Stats[i])), group.Count))
                .Append(FormatMeanStd(MeanStd(group.Select(r => r.VocMap50)), group.Count));
            md.AppendLine($"| {loss} | {group.Count} | {string.Join(" | ", cells)} |");
        }
        md.AppendLine();
    }

    static void AppendPerClass(StringBuilder md, IReadOnlyList<string> losses, Dictionary<string, List<CompareRun>> byLoss, IReadOnlyList<string> classNames)
    {
        md.AppendLine("## Per-class AP, mean ± std per loss").AppendLine();
        md.AppendLine($"| Class | {string.Join(" | ", losses)} |");
        md.AppendLine($"|---|{string.Concat(losses.Select(_ => "---:|"))}");
        for (var c = 0; c < classNames.Count; c++)
        {
            var cells = losses.Select(l => FormatMeanStd(MeanStd(byLoss[l].Select(r => r.PerClassAP[c])), byLoss[l].Count));
            md.AppendLine($"| {classNames[c]} | {string.Join(" | ", cells)} |");
        }
        md.AppendLine();
    }

    /// <summary>The metrics of the paired differences: (name, index in the 12 COCO numbers).</summary>
    internal static readonly (string Name, int Index)[] PairedMetrics = [("AP", 0), ("AP50", 1), ("AP75", 2)];

    /// <summary>second − first per metric of <see cref="PairedMetrics"/>, runs paired by seed.</summary>
    internal static IEnumerable<(string Metric, PairedDifference Difference)> Paired(IEnumerable<CompareRun> first, IEnumerable<CompareRun> second)
    {
        var a = first.ToDictionary(r => r.Seed);
        var b = second.ToDictionary(r => r.Seed);
        return PairedMetrics.Select(m => (m.Name, PairedDifference.BySeed(
            a.ToDictionary(kv => kv.Key, kv => kv.Value.Stats[m.Index]), b.ToDictionary(kv => kv.Key, kv => kv.Value.Stats[m.Index])).Difference));
    }

    internal const string PairedHeader = "| metric | n | mean difference | std | t | p (two-sided) |";
    internal const string PairedRule = "|---|---:|---:|---:|---:|---:|";

    internal static string PairedCells(string metric, PairedDifference d) => $"{metric} | {d.Count} | {d.MeanText} | {d.StdText} | {d.TText} | {d.PText}";

    internal const string PairedExplanation = "Runs paired by seed; difference = second − first; std over the pairs (n − 1); " +
        "t = mean / (std / √n), p two-sided from Student's t with n − 1 degrees of freedom; – where n < 2.";

    /// <summary>For each pair of losses (in the order listed) that share seeds: second − first per metric.</summary>
    static void AppendPairedDifferences(StringBuilder md, IReadOnlyList<string> losses, Dictionary<string, List<CompareRun>> byLoss)
    {
        var pairs = new List<(string First, string Second)>();
        for (var i = 0; i < losses.Count; i++)
            for (var j = i + 1; j < losses.Count; j++)
                if (byLoss[losses[i]].Select(r => r.Seed).Intersect(byLoss[losses[j]].Select(r => r.Seed)).Any())
                    pairs.Add((losses[i], losses[j]));
        if (pairs.Count == 0) return;
        md.AppendLine("## Paired difference").AppendLine();
        md.AppendLine(PairedExplanation).AppendLine();
        md.AppendLine("| pair " + PairedHeader);
        md.AppendLine("|---" + PairedRule);
        foreach (var (first, second) in pairs)
            foreach (var (metric, d) in Paired(byLoss[first], byLoss[second]))
                md.AppendLine($"| {second} − {first} | {PairedCells(metric, d)} |");
        md.AppendLine();
    }

    static (string, string?) WriteApByEpoch(IReadOnlyList<EpochSeries> series, string path)
    {
        var plot = PlotSeries.NewPlot();
        if (!EpochCurves.AddToPlot(plot, series)) return (path, "no run has eval/epoch_*.json");
        plot.Title("AP after each evaluated epoch: mean over seeds (line), band, seeds (points)");
        plot.XLabel("epoch");
        plot.YLabel("AP");
        plot.ShowLegend(Edge.Right);
        return (PlotSeries.Save(plot, path), null);
    }

    static string WriteApByLoss(IReadOnlyList<string> losses, Dictionary<string, List<CompareRun>> byLoss, string path)
    {
        var plot = PlotSeries.NewPlot();
        for (var i = 0; i < losses.Count; i++)
        {
            var group = byLoss[losses[i]];
            var color = PlotSeries.ColorAt(i);
            // Runs spread sideways by seed order so equal values stay visible.
            var xs = group.Select((_, k) => i - 0.2 + (group.Count == 1 ? 0.2 : 0.4 * k / (group.Count - 1)) - 0.08).ToArray();
            var (px, py) = PlotSeries.Finite(xs, group.Select(r => r.Stats[0] >= 0 ? r.Stats[0] : double.NaN).ToArray());
            if (px.Length > 0)
            {
                var points = plot.Add.ScatterPoints(px, py, color.WithAlpha(0.6));
                points.MarkerSize = 7;
            }
            var (mean, std, count) = MeanStd(group.Select(r => r.Stats[0]));
            if (count == 0) continue;
            var meanMarker = plot.Add.ScatterPoints(new[] { i + 0.28 }, new[] { mean }, color);
            meanMarker.MarkerSize = 11;
            meanMarker.MarkerShape = MarkerShape.FilledDiamond;
            if (count > 1)
            {
                var bar = plot.Add.ErrorBar(new[] { i + 0.28 }, new[] { mean }, new[] { std });
                bar.Color = color;
                bar.LineWidth = 2;
            }
        }
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            Enumerable.Range(0, losses.Count).Select(i => (double)i).ToArray(), losses.ToArray());
        plot.Axes.SetLimitsX(-0.6, losses.Count - 0.4);
        plot.Title("AP per run (circles) and mean ± std per loss (diamond, bar)");
        plot.XLabel("loss");
        plot.YLabel("AP");
        return PlotSeries.Save(plot, path);
    }

    static (string, string?) WriteLossCurves(IReadOnlyList<string> losses, Dictionary<string, List<CompareRun>> byLoss,
        Dictionary<CompareRun, List<IterationLog>> logs, string path)
    {
        var plot = PlotSeries.NewPlot();
        var drawn = 0;
        var longest = 0;
        for (var i = 0; i < losses.Count; i++)
        {
            // Mean over the runs that logged each iteration.
            var sums = new SortedDictionary<int, (double Sum, int Count)>();
            var withLog = 0;
            foreach (var run in byLoss[losses[i]])
            {
                if (!logs.TryGetValue(run, out var iterations)) continue;
                withLog++;
                foreach (var it in iterations)
                {
                    if (!double.IsFinite(it.Loss)) continue;
                    sums.TryGetValue(it.Iteration, out var s);
                    sums[it.Iteration] = (s.Sum + it.Loss, s.Count + 1);
                }
            }
            if (sums.Count == 0) continue;
            var xs = sums.Keys.Select(k => (double)k).ToArray();
            var ys = sums.Values.Select(v => v.Sum / v.Count).ToArray();
            longest = Math.Max(longest, xs.Length);
            if (PlotSeries.AddRawAndSmoothed(plot, xs, ys, PlotSeries.ColorAt(i), $"{losses[i]} ({withLog} runs)", PlotSeries.DefaultWindow(xs.Length))) drawn++;
        }
        if (drawn == 0) return (path, "no run has a log.jsonl with finite losses");
        plot.Title($"Total loss, mean over seeds (thick: moving average of {PlotSeries.DefaultWindow(longest)})");
        plot.XLabel("iteration");
        plot.YLabel("total loss");
        plot.ShowLegend(Edge.Right);
        return (PlotSeries.Save(plot, path), null);
    }

    static (string, string?) WriteGammaTrajectories(IReadOnlyList<CompareRun> ordered, Dictionary<CompareRun, List<IterationLog>> logs, string path)
    {
        // A group is the loss ("hpf") or, with several models, "MODEL LOSS" ("atss-r18 hpf").
        var hpfRuns = ordered.Where(r => string.Equals(r.Loss.Split(' ')[^1], "hpf", StringComparison.OrdinalIgnoreCase)).ToList();
        if (hpfRuns.Count == 0) return (path, "no run uses the hpf loss");
        var withLog = hpfRuns.Where(logs.ContainsKey).Where(r => logs[r].Count > 0).ToList();
        if (withLog.Count == 0) return (path, "no hpf run has a log.jsonl");
        // Several models: one panel per model (overlaid, eight detectors' levels could not be told apart).
        var byModel = withLog.GroupBy(r => r.Loss.Contains(' ') ? r.Loss[..r.Loss.LastIndexOf(' ')] : "").ToList();
        var plots = new List<Plot>();
        foreach (var group in byModel)
        {
            var plot = PlotSeries.NewPlot();
            if (!AddGammaLines(plot, group.ToList(), logs, out var seeds)) continue;
            if (byModel.Count > 1)
            {
                // A panel is narrow: the model and its seeds only ("moving average" is said once, by the caption).
                plot.Title($"{group.Key} hpf: {seeds}");
                plot.Axes.Title.Label.FontSize = PanelTitleFontSize;
            }
            else plot.Title($"Per-level γ of hpf, moving average ({seeds})");
            plot.XLabel("iteration");
            plot.YLabel("γ");
            plot.ShowLegend(byModel.Count > 1 ? Edge.Bottom : Edge.Right);
            plots.Add(plot);
        }
        if (plots.Count == 0) return (path, "the hpf logs hold no finite γ");
        if (plots.Count == 1) return (PlotSeries.Save(plots[0], path), null);
        // One γ scale for every panel, so the detectors compare by eye.
        var limits = plots.Select(p => p.Axes.GetLimits()).ToList();
        foreach (var plot in plots) plot.Axes.SetLimitsY(limits.Min(l => l.Bottom), limits.Max(l => l.Top));
        const int columns = 4;
        int rows = (plots.Count + columns - 1) / columns;
        var multiplot = new Multiplot();
        multiplot.Reset(plots[0]);
        foreach (var plot in plots.Skip(1)) multiplot.AddPlot(plot);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Grid(rows, columns);
        multiplot.SavePng(path, GammaPanelWidth * Math.Min(columns, plots.Count), GammaPanelHeight * rows);
        return (path, null);
    }

    const int GammaPanelWidth = 480, GammaPanelHeight = 400;
    const float PanelTitleFontSize = 13;

    /// <summary>The moving average of γ per level of each run (levels by colour, runs by line pattern); false if none is finite.</summary>
    static bool AddGammaLines(Plot plot, IReadOnlyList<CompareRun> runs, Dictionary<CompareRun, List<IterationLog>> logs, out string seeds)
    {
        LinePattern[] patterns = [LinePattern.Solid, LinePattern.Dashed, LinePattern.Dotted, LinePattern.DenselyDashed];
        string[] patternNames = ["solid", "dashed", "dotted", "densely dashed"];
        var levelsDrawn = new HashSet<int>();
        for (var r = 0; r < runs.Count; r++)
        {
            var iterations = logs[runs[r]];
            var xs = iterations.Select(it => (double)it.Iteration).ToArray();
            var gamma = TrainingPlots.PerLevel(iterations, it => it.Gamma);
            var names = PlotSeries.LevelNames(gamma.Length, null);
            var window = PlotSeries.DefaultWindow(xs.Length);
            for (var l = 0; l < gamma.Length; l++)
            {
                var (sx, sy) = PlotSeries.Finite(xs, PlotSeries.MovingAverage(gamma[l], window));
                if (sx.Length == 0) continue;
                var line = plot.Add.ScatterLine(sx, sy, PlotSeries.ColorAt(l));
                line.LineWidth = 1.5f;
                line.LinePattern = patterns[r % patterns.Length];
                // One legend entry per level; runs differ by line pattern, listed in the title.
                if (levelsDrawn.Add(l)) line.LegendText = names[l];
            }
        }
        // Name each run's pattern while every run has its own; beyond that the patterns repeat and the
        // title only lists the seeds (it would not fit the image either).
        seeds = runs.Count == 1
            ? $"seed {runs[0].Seed}"
            : runs.Count <= patterns.Length
                ? "seed " + string.Join(", ", runs.Select((run, r) => $"{run.Seed} {patternNames[r]}"))
                : $"seeds {string.Join(", ", runs.Select(run => run.Seed))}";
        return levelsDrawn.Count > 0;
    }

    /// <summary>
    /// share[loss][level]: per run Σ_t positives_l / Σ_t Σ_l positives, averaged over the loss's runs
    /// (only losses with at least one log).
    /// </summary>
    static (List<(int LossIndex, double[] Share)> Shares, int Levels) PositiveShares(IReadOnlyList<string> losses,
        Dictionary<string, List<CompareRun>> byLoss, Dictionary<CompareRun, List<IterationLog>> logs)
    {
        var shares = new List<(int LossIndex, double[] Share)>();
        var levels = 0;
        for (var i = 0; i < losses.Count; i++)
        {
            var perRun = new List<double[]>();
            foreach (var run in byLoss[losses[i]])
            {
                if (!logs.TryGetValue(run, out var iterations) || iterations.Count == 0) continue;
                var runLevels = iterations.Max(it => it.Positives?.Length ?? 0);
                var totals = new double[runLevels];
                foreach (var it in iterations)
                    for (var l = 0; l < (it.Positives?.Length ?? 0); l++) totals[l] += it.Positives![l];
                var sum = totals.Sum();
                if (sum > 0) perRun.Add(totals.Select(t => t / sum).ToArray());
            }
            if (perRun.Count == 0) continue;
            var runLevelsMax = perRun.Max(s => s.Length);
            levels = Math.Max(levels, runLevelsMax);
            shares.Add((i, Enumerable.Range(0, runLevelsMax).Select(l => perRun.Average(s => l < s.Length ? s[l] : 0)).ToArray()));
        }
        return (shares, levels);
    }

    /// <summary>Per-level tables: share of positives, and the mean γ over each run's last epoch (mean over seeds).</summary>
    static void AppendLevelTables(StringBuilder md, IReadOnlyList<string> losses, Dictionary<string, List<CompareRun>> byLoss,
        Dictionary<CompareRun, List<IterationLog>> logs)
    {
        var (shares, levels) = PositiveShares(losses, byLoss, logs);
        if (shares.Count == 0) return;
        var names = PlotSeries.LevelNames(levels, null);
        md.AppendLine("## Share of positives per level (whole training, mean over seeds)").AppendLine();
        md.AppendLine("| loss | " + string.Join(" | ", names) + " |");
        md.AppendLine("|---|" + string.Concat(Enumerable.Repeat("---:|", levels)));
        foreach (var (lossIndex, share) in shares)
            md.AppendLine($"| {losses[lossIndex]} | " + string.Join(" | ", Enumerable.Range(0, levels).Select(l => l < share.Length ? F(share[l]) : "–")) + " |");
        md.AppendLine();

        md.AppendLine("## γ per level over the last epoch (mean over iterations, then over seeds)").AppendLine();
        md.AppendLine("| loss | " + string.Join(" | ", names) + " |");
        md.AppendLine("|---|" + string.Concat(Enumerable.Repeat("---:|", levels)));
        foreach (var (loss, gamma) in LastEpochGamma(losses, byLoss, logs, levels))
            md.AppendLine($"| {loss} | " + string.Join(" | ", gamma.Select(F)) + " |");
        md.AppendLine();
    }

    /// <summary>Per loss with logs: γ per level over the last epoch, the mean over its iterations, then over seeds.</summary>
    static List<(string Loss, double[] Gamma)> LastEpochGamma(IReadOnlyList<string> losses, Dictionary<string, List<CompareRun>> byLoss,
        Dictionary<CompareRun, List<IterationLog>> logs, int levels)
    {
        var result = new List<(string, double[])>();
        foreach (var loss in losses)
        {
            var perRun = new List<double[]>();
            foreach (var run in byLoss[loss])
            {
                if (!logs.TryGetValue(run, out var iterations) || iterations.Count == 0) continue;
                int lastEpoch = iterations.Max(it => it.Epoch);
                var last = iterations.Where(it => it.Epoch == lastEpoch && it.Gamma is { Length: > 0 }).ToList();
                if (last.Count == 0) continue;
                perRun.Add(Enumerable.Range(0, levels).Select(l => last.Where(it => l < it.Gamma.Length && double.IsFinite(it.Gamma[l])).Select(it => it.Gamma[l]).DefaultIfEmpty(double.NaN).Average()).ToArray());
            }
            if (perRun.Count > 0) result.Add((loss, Enumerable.Range(0, levels).Select(l => perRun.Average(r => r[l])).ToArray()));
        }
        return result;
    }

    /// <summary>
    /// Training time of a run in minutes from its log: Σ over iterations of batch / logged images per second
    /// (evaluation not included; file times cannot serve, a checkout gives every file the same time). Null
    /// without a log or the run's config.yaml.
    /// </summary>
    internal static double? TrainingMinutes(CompareRun run, Dictionary<CompareRun, List<IterationLog>> logs)
    {
        var config = Path.Combine(run.RunDir, "config.yaml");
        if (!logs.TryGetValue(run, out var iterations) || iterations.Count == 0 || !File.Exists(config)) return null;
        int batch = RunConfig.Load(config).Train.Batch;
        return iterations.Where(it => it.ImagesPerSecond > 0).Sum(it => batch / it.ImagesPerSecond) / 60;
    }

    /// <summary>
    /// summary.json: the report's numbers for tools (docs/experiments/make_results_doc.py reads it rather than
    /// recomputing): per group the seeds, mean and sample std of every statistic and per class, the positive
    /// shares and last-epoch γ per level, and per run its statistics, training minutes and torch thread counts.
    /// </summary>
    static void WriteSummaryJson(string path, string title, IReadOnlyList<string> losses, Dictionary<string, List<CompareRun>> byLoss,
        Dictionary<CompareRun, List<IterationLog>> logs)
    {
        var (shares, levels) = PositiveShares(losses, byLoss, logs);
        var gammas = LastEpochGamma(losses, byLoss, logs, levels).ToDictionary(g => g.Loss, g => g.Gamma, StringComparer.Ordinal);
        var statNames = StatNames.Append("VOC mAP50").ToArray();
        static void Number(System.Text.Json.Utf8JsonWriter w, double v) { if (double.IsFinite(v)) w.WriteNumberValue(v); else w.WriteNullValue(); }
        using var stream = File.Create(path);
        using var w = new System.Text.Json.Utf8JsonWriter(stream, new System.Text.Json.JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteString("title", title);
        w.WriteStartArray("stat_names");
        foreach (var n in statNames) w.WriteStringValue(n);
        w.WriteEndArray();
        w.WriteStartArray("groups");
        for (int i = 0; i < losses.Count; i++)
        {
            var group = byLoss[losses[i]];
            double[] Column(int k) => group.Select(r => k < StatNames.Length ? r.Stats[k] : r.VocMap50).ToArray();
            w.WriteStartObject();
            w.WriteString("name", losses[i]);
            w.WriteStartArray("seeds");
            foreach (var r in group) w.WriteNumberValue(r.Seed);
            w.WriteEndArray();
            foreach (var (key, pick) in new (string, Func<(double Mean, double Std, int Count), double>)[] { ("mean", m => m.Mean), ("std", m => m.Std) })
            {
                w.WriteStartObject(key);
                for (int k = 0; k < statNames.Length; k++) { w.WritePropertyName(statNames[k]); Number(w, pick(MeanStd(Column(k)))); }
                w.WriteEndObject();
            }
            w.WriteStartObject("per_class");
            for (int c = 0; c < group[0].ClassNames.Count; c++)
            {
                var m = MeanStd(group.Select(r => r.PerClassAP[c]));
                w.WriteStartObject(group[0].ClassNames[c]);
                w.WritePropertyName("mean"); Number(w, m.Mean);
                w.WritePropertyName("std"); Number(w, m.Std);
                w.WriteEndObject();
            }
            w.WriteEndObject();
            var share = shares.FirstOrDefault(s => s.LossIndex == i).Share;
            if (share is not null)
            {
                w.WriteStartArray("positive_share");
                foreach (var v in share) Number(w, v);
                w.WriteEndArray();
            }
            if (gammas.TryGetValue(losses[i], out var gamma))
            {
                w.WriteStartArray("gamma_last_epoch");
                foreach (var v in gamma) Number(w, v);
                w.WriteEndArray();
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("runs");
        foreach (var loss in losses)
            foreach (var r in byLoss[loss])
            {
                w.WriteStartObject();
                w.WriteString("group", r.Loss);
                w.WriteNumber("seed", r.Seed);
                w.WriteString("dir", Path.GetFileName(r.RunDir));
                w.WriteStartArray("stats");
                foreach (var v in r.Stats) Number(w, v);
                w.WriteEndArray();
                w.WritePropertyName("voc_map50"); Number(w, r.VocMap50);
                w.WritePropertyName("training_minutes");
                if (TrainingMinutes(r, logs) is { } minutes) w.WriteNumberValue(minutes); else w.WriteNullValue();
                // The thread counts its processes trained with (a run repeats exactly only at the same count); empty for older logs.
                w.WriteStartArray("torch_threads");
                if (TrainingLogJson.Find(r.RunDir) is { } logPath)
                    foreach (var threads in TrainingLogJson.ReadRunStarts(logPath).Select(s => s.TorchThreads).Distinct()) w.WriteNumberValue(threads);
                w.WriteEndArray();
                w.WriteEndObject();
            }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    static (string, string?) WritePositiveProportions(IReadOnlyList<string> losses, Dictionary<string, List<CompareRun>> byLoss,
        Dictionary<CompareRun, List<IterationLog>> logs, string path)
    {
        var (shares, levels) = PositiveShares(losses, byLoss, logs);
        if (shares.Count == 0) return (path, "no run has a log.jsonl with positives");

        var plot = PlotSeries.NewPlot();
        var names = PlotSeries.LevelNames(levels, null);
        var barWidth = 0.8 / shares.Count;
        var bars = new List<Bar>();
        for (var s = 0; s < shares.Count; s++)
        {
            var (lossIndex, share) = shares[s];
            var color = PlotSeries.ColorAt(lossIndex);
            for (var l = 0; l < share.Length; l++)
                bars.Add(new Bar { Position = l - 0.4 + barWidth * (s + 0.5), Value = share[l], Size = barWidth * 0.9, FillColor = color, LineWidth = 0 });
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = losses[lossIndex], FillColor = color });
        }
        plot.Add.Bars(bars);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            Enumerable.Range(0, levels).Select(l => (double)l).ToArray(), names.ToArray());
        plot.Axes.Margins(bottom: 0);
        plot.Title("Share of positives per level over the whole training, mean over seeds");
        plot.XLabel("level");
        plot.YLabel("positives_l / Σ positives");
        plot.ShowLegend(Edge.Right);
        return (PlotSeries.Save(plot, path), null);
    }
}
