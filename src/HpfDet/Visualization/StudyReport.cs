using System.Globalization;
using System.Text;
using HpfDet.Losses;
using HpfDet.Training;
using ScottPlot;

namespace HpfDet.Visualization;

/// <summary>One cell of a study: a name (e.g. the schedule, "1x") and the folder <c>hpfdet compare</c> wrote.</summary>
public sealed record StudyCell(string Name, string Dir);

/// <summary>A comparison across cells: <see cref="Left"/> − <see cref="Right"/>, runs paired by seed.</summary>
public sealed record StudyPair(string Text, (string Loss, string Cell) Left, (string Loss, string Cell) Right);

/// <summary>
/// The report of <c>hpfdet study</c> over several comparison folders (cells): study.md with the runs
/// counted per cell, AP/AP50/AP75 per cell and loss, paired differences within each cell and across
/// cells, AP after each evaluated epoch; charts ap_by_epoch_panels.png (one panel per cell) and
/// gamma_by_progress.png (HPF's γ per level against the fraction of training done). Only runs that
/// trained to their end (the 'completed' marker) count.
/// </summary>
public static class StudyReport
{
    const int PanelWidth = 480;

    /// <summary>A cell's completed runs with their logs (HPF runs only) and per-epoch evaluations.</summary>
    sealed record CellData(StudyCell Cell, int Folders, List<CompareRun> Runs, Dictionary<CompareRun, SortedDictionary<int, double[]>> Epochs,
        Dictionary<CompareRun, (List<IterationLog> Log, int TotalIterations)> HpfLogs)
    {
        public IEnumerable<CompareRun> Of(string loss) => Runs.Where(r => r.Loss == loss).OrderBy(r => r.Seed);
        public IReadOnlyList<string> Losses => Runs.Select(r => r.Loss).Distinct().ToList();
    }

    /// <summary>"1x=results/x" → the cell; refuses a missing '=', an empty name or folder, and '@' in the name.</summary>
    public static StudyCell ParseCell(string text)
    {
        var at = text.IndexOf('=');
        var name = at < 0 ? "" : text[..at].Trim();
        var dir = at < 0 ? "" : text[(at + 1)..].Trim();
        if (name.Length == 0 || dir.Length == 0)
            throw new HpfDetException($"--cell '{text}': expected NAME=COMPARE_DIR, e.g. --cell 1x=results/schedule-vehicles/1x.");
        if (name.Contains('@'))
            throw new HpfDetException($"--cell '{text}': the name '{name}' holds '@', which --pair uses to separate loss and cell; choose another name.");
        return new StudyCell(name, dir);
    }

    /// <summary>
    /// "hpf@1.5x-fl@1x" → hpf at cell 1.5x minus fl at cell 1x. The '-' that splits it is the one that leaves
    /// LOSS@CELL on both sides with known cells, so cell names may hold '-' too.
    /// </summary>
    public static StudyPair ParsePair(string text, IReadOnlyList<string> cellNames)
    {
        var splits = new List<StudyPair>();
        for (var i = text.IndexOf('-'); i >= 0; i = text.IndexOf('-', i + 1))
            if (Side(text[..i]) is { } left && Side(text[(i + 1)..]) is { } right)
                splits.Add(new StudyPair(text, left, right));
        if (splits.Count != 1)
            throw new HpfDetException($"--pair '{text}': expected LOSS@CELL-LOSS@CELL (the first minus the second) with cells among {NameList.Join(cellNames, "and")}, e.g. --pair \"hpf@{cellNames[^1]}-fl@{cellNames[0]}\".");
        var pair = splits[0];
        if (pair.Left == pair.Right) throw new HpfDetException($"--pair '{text}': both sides are {pair.Left.Loss}@{pair.Left.Cell}; name two different sets of runs.");
        return pair;

        (string Loss, string Cell)? Side(string side)
        {
            var parts = side.Split('@');
            return parts.Length == 2 && parts[0].Trim().Length > 0 && cellNames.Contains(parts[1].Trim()) ? (parts[0].Trim(), parts[1].Trim()) : null;
        }
    }

    /// <summary>
    /// Reads the cells, checks the pairs (<c>LOSS@CELL-LOSS@CELL</c>) and writes study.md and the charts into
    /// <paramref name="outDir"/>. Throws <see cref="HpfDetException"/> naming the cell, folder or pair at fault.
    /// </summary>
    /// <returns>The path of study.md.</returns>
    public static string Write(IReadOnlyList<StudyCell> cells, IReadOnlyList<string> pairTexts, string outDir, string? title = null)
    {
        ArgumentNullException.ThrowIfNull(cells);
        if (cells.Count == 0) throw new HpfDetException("No cell: pass at least one --cell NAME=COMPARE_DIR.");
        var twice = cells.GroupBy(c => c.Name).FirstOrDefault(g => g.Count() > 1);
        if (twice != null) throw new HpfDetException($"--cell: the name '{twice.Key}' is given {twice.Count()} times; give each cell its own name.");
        var cellNames = cells.Select(c => c.Name).ToList();
        var pairs = pairTexts.Select(p => ParsePair(p, cellNames)).ToList();
        var data = cells.Select(Load).ToList();
        var byName = data.ToDictionary(d => d.Cell.Name);
        foreach (var pair in pairs)
            foreach (var (loss, cell) in new[] { pair.Left, pair.Right })
                if (!byName[cell].Losses.Contains(loss))
                    throw new HpfDetException($"--pair '{pair.Text}': cell {cell} ('{byName[cell].Cell.Dir}') has no completed {loss} run; it has {NameList.Join(byName[cell].Losses, "and")}.");

        var losses = OrderLosses(data.SelectMany(d => d.Losses));
        Directory.CreateDirectory(outDir);
        var md = new StringBuilder();
        md.AppendLine($"# {title ?? $"Study: {string.Join(", ", cellNames)}"}").AppendLine();
        AppendCells(md, data);
        AppendFinalTable(md, data, losses);
        AppendPairedPerCell(md, data, losses);
        if (pairs.Count > 0) AppendCrossCell(md, byName, pairs);
        AppendEpochTables(md, data, losses);

        md.AppendLine("## Charts").AppendLine();
        foreach (var (file, skipped) in new[]
                 {
                     WriteApPanels(data, losses, Path.Combine(outDir, "ap_by_epoch_panels.png")),
                     WriteGammaByProgress(data, Path.Combine(outDir, "gamma_by_progress.png")),
                 })
        {
            var name = Path.GetFileName(file);
            md.AppendLine(skipped == null ? $"![{Path.GetFileNameWithoutExtension(name)}]({name})" : $"- {name}: not written ({skipped}).").AppendLine();
        }
        var path = Path.Combine(outDir, "study.md");
        File.WriteAllText(path, md.ToString());
        return path;
    }

    static CellData Load(StudyCell cell)
    {
        var where = $"--cell {cell.Name}: '{cell.Dir}'";
        if (File.Exists(cell.Dir)) throw new HpfDetException($"{where} is a file; give the folder that 'hpfdet compare --out' wrote.");
        if (!Directory.Exists(cell.Dir)) throw new HpfDetException($"{where} not found; give the folder that 'hpfdet compare --out' wrote.");
        var folders = CompareFolder.List(cell.Dir);
        if (folders.Count == 0)
            throw new HpfDetException($"{where} holds no run folder (LOSS-seedN); give the folder that 'hpfdet compare --out' wrote.");
        var completed = folders.Where(f => f.Completed).ToList();
        if (completed.Count == 0)
            throw new HpfDetException($"{where}: none of its {folders.Count} run folders has finished (no '{CompareFolder.CompletedMarker}' file); wait until 'hpfdet compare' completes a run, or leave the cell out.");
        var runs = completed.Select(f => CompareFolder.ReadRun(f.Group, f.Seed, f.Dir)).ToList();
        foreach (var run in runs.Where(r => r.Stats.Length < 12))
            throw new HpfDetException($"{where}: '{Path.Combine(run.RunDir, "eval", "final.json")}' holds {run.Stats.Length} COCO statistics, expected 12; re-run that run's evaluation.");
        var epochs = runs.ToDictionary(r => r, r => CompareFolder.ReadEpochStats(r.RunDir));
        var logs = new Dictionary<CompareRun, (List<IterationLog>, int)>();
        foreach (var run in runs.Where(r => IsHpf(r.Loss)))
        {
            var logPath = TrainingLogJson.Find(run.RunDir);
            if (logPath is null) continue;
            var log = TrainingLogJson.Read(logPath).Iterations;
            if (log.Count == 0) continue;
            // The completed marker holds the last iteration: the length of the training.
            var marker = File.ReadAllText(Path.Combine(run.RunDir, CompareFolder.CompletedMarker)).Trim();
            var total = int.TryParse(marker, NumberStyles.Integer, CultureInfo.InvariantCulture, out var t) && t > 0 ? t : log.Max(it => it.Iteration);
            logs[run] = (log, total);
        }
        return new CellData(cell, folders.Count, runs, epochs, logs);
    }

    /// <summary>The HPF loss, alone or after a model name (MODEL-hpf).</summary>
    static bool IsHpf(string group) => group == LossNames.Hpf || group.EndsWith("-" + LossNames.Hpf, StringComparison.Ordinal);

    /// <summary>Focal loss first (the baseline, so differences read "hpf − fl"), then the other known losses, then the rest by name.</summary>
    static List<string> OrderLosses(IEnumerable<string> losses)
    {
        var known = new[] { LossNames.Focal }.Concat(LossNames.All.Where(l => l != LossNames.Focal)).ToList();
        int Rank(string l) => known.Contains(l) ? known.IndexOf(l) : known.Count;
        return losses.Distinct().OrderBy(Rank).ThenBy(l => l, StringComparer.Ordinal).ToList();
    }

    static string Seeds(IEnumerable<CompareRun> runs) => string.Join(", ", runs.Select(r => r.Seed));

    static void AppendCells(StringBuilder md, IReadOnlyList<CellData> data)
    {
        md.AppendLine("## Cells").AppendLine();
        md.AppendLine("Only runs that trained to their end (a `completed` file in the run folder) count; the others are still training or stopped.").AppendLine();
        md.AppendLine("| cell | folder | completed runs | seeds per loss |");
        md.AppendLine("|---|---|---:|---|");
        foreach (var d in data)
            md.AppendLine($"| {d.Cell.Name} | `{d.Cell.Dir}` | {d.Runs.Count} of {d.Folders} | {string.Join("; ", OrderLosses(d.Losses).Select(l => $"{l}: {Seeds(d.Of(l))}"))} |");
        md.AppendLine();
    }

    static void AppendFinalTable(StringBuilder md, IReadOnlyList<CellData> data, IReadOnlyList<string> losses)
    {
        md.AppendLine("## Final AP per cell and loss (mean ± std over seeds, n − 1)").AppendLine();
        md.AppendLine($"| cell | loss | n | {string.Join(" | ", CompareReport.PairedMetrics.Select(m => m.Name))} |");
        md.AppendLine($"|---|---|---:|{string.Concat(CompareReport.PairedMetrics.Select(_ => "---:|"))}");
        foreach (var d in data)
            foreach (var loss in losses.Where(d.Losses.Contains))
            {
                var runs = d.Of(loss).ToList();
                var cells = CompareReport.PairedMetrics.Select(m => CompareReport.FormatMeanStd(CompareReport.MeanStd(runs.Select(r => r.Stats[m.Index])), runs.Count));
                md.AppendLine($"| {d.Cell.Name} | {loss} | {runs.Count} | {string.Join(" | ", cells)} |");
            }
        md.AppendLine();
    }

    static void AppendPairedPerCell(StringBuilder md, IReadOnlyList<CellData> data, IReadOnlyList<string> losses)
    {
        md.AppendLine("## Paired difference per cell").AppendLine();
        md.AppendLine(CompareReport.PairedExplanation).AppendLine();
        md.AppendLine("| cell | pair " + CompareReport.PairedHeader);
        md.AppendLine("|---|---" + CompareReport.PairedRule);
        foreach (var d in data)
        {
            var present = losses.Where(d.Losses.Contains).ToList();
            for (var i = 0; i < present.Count; i++)
                for (var j = i + 1; j < present.Count; j++)
                    foreach (var (metric, diff) in CompareReport.Paired(d.Of(present[i]), d.Of(present[j])))
                        md.AppendLine($"| {d.Cell.Name} | {present[j]} − {present[i]} | {CompareReport.PairedCells(metric, diff)} |");
        }
        md.AppendLine();
    }

    static void AppendCrossCell(StringBuilder md, Dictionary<string, CellData> byName, IReadOnlyList<StudyPair> pairs)
    {
        md.AppendLine("## Pairings across cells").AppendLine();
        md.AppendLine("The runs are paired by seed across different cells (different schedules or settings): the same seed starts from " +
            "the same initialisation and data order, but the two runs then train differently, so the pairing only matches seeds; " +
            "it is not one run measured twice. " + CompareReport.PairedExplanation).AppendLine();
        md.AppendLine("| pair | seeds " + CompareReport.PairedHeader);
        md.AppendLine("|---|---" + CompareReport.PairedRule);
        foreach (var pair in pairs)
        {
            var left = byName[pair.Left.Cell].Of(pair.Left.Loss).ToList();
            var right = byName[pair.Right.Cell].Of(pair.Right.Loss).ToList();
            var seeds = Seeds(left.Where(l => right.Any(r => r.Seed == l.Seed)));
            foreach (var (metric, diff) in CompareReport.Paired(right, left))
                md.AppendLine($"| {pair.Left.Loss}@{pair.Left.Cell} − {pair.Right.Loss}@{pair.Right.Cell} | {(seeds.Length > 0 ? seeds : "none shared")} | {CompareReport.PairedCells(metric, diff)} |");
        }
        md.AppendLine();
    }

    static List<EpochSeries> Series(CellData d, IReadOnlyList<string> losses) =>
        losses.Select((loss, i) => (loss, i)).Where(x => d.Losses.Contains(x.loss))
            .Select(x => new EpochSeries(x.loss, x.i, d.Of(x.loss).Select(r => (r.Seed, d.Epochs[r])).ToList())).ToList();

    static void AppendEpochTables(StringBuilder md, IReadOnlyList<CellData> data, IReadOnlyList<string> losses)
    {
        md.AppendLine("## AP after each evaluated epoch (mean ± std)").AppendLine();
        foreach (var d in data)
        {
            md.AppendLine($"### {d.Cell.Name}").AppendLine();
            var series = Series(d, losses);
            if (series.All(s => s.Epochs.Length == 0)) md.AppendLine("No run of this cell has eval/epoch_*.json.").AppendLine();
            else EpochCurves.AppendTable(md, series);
        }
    }

    static (string, string?) WriteApPanels(IReadOnlyList<CellData> data, IReadOnlyList<string> losses, string path)
    {
        var perCell = data.Select(d => Series(d, losses)).ToList();
        if (perCell.All(c => c.All(s => s.Epochs.Length == 0))) return (path, "no run has eval/epoch_*.json");
        var plots = new List<Plot>();
        double low = double.PositiveInfinity, high = double.NegativeInfinity;
        for (var c = 0; c < data.Count; c++)
        {
            var plot = PlotSeries.NewPlot();
            var drawn = EpochCurves.AddToPlot(plot, perCell[c]);
            var runs = perCell[c].Sum(s => s.Runs.Count);
            plot.Title(drawn ? $"{data[c].Cell.Name} ({runs} runs)" : $"{data[c].Cell.Name}: no per-epoch evaluation");
            plot.XLabel("epoch");
            plot.YLabel("AP");
            if (drawn)
            {
                // Below the panel: inside it, the legend would hide the curves of a cell with low AP.
                plot.ShowLegend(Edge.Bottom);
                var values = perCell[c].SelectMany(s => s.Epochs.SelectMany(e => s.Values(e, 0).Select(v => v.Value))).ToList();
                low = Math.Min(low, values.Min());
                high = Math.Max(high, values.Max());
                var epochs = perCell[c].SelectMany(s => s.Epochs).ToList();
                plot.Axes.SetLimitsX(epochs.Min() - 0.5, epochs.Max() + 0.5);
            }
            plots.Add(plot);
        }
        // One AP scale for every panel, so the cells compare by eye.
        var pad = Math.Max(0.01, 0.08 * (high - low));
        foreach (var plot in plots) plot.Axes.SetLimitsY(Math.Max(0, low - pad), high + pad);
        var multiplot = new Multiplot();
        multiplot.Reset(plots[0]);
        foreach (var plot in plots.Skip(1)) multiplot.AddPlot(plot);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Columns();
        multiplot.SavePng(path, Math.Max(PlotSeries.Width, PanelWidth * plots.Count), PlotSeries.Height);
        return (path, null);
    }

    static (string, string?) WriteGammaByProgress(IReadOnlyList<CellData> data, string path)
    {
        if (!data.Any(d => d.Runs.Any(r => IsHpf(r.Loss)))) return (path, "no cell has a completed hpf run");
        if (data.All(d => d.HpfLogs.Count == 0)) return (path, "no completed hpf run has a log.jsonl");
        LinePattern[] patterns = [LinePattern.Solid, LinePattern.Dashed, LinePattern.Dotted, LinePattern.DenselyDashed];
        string[] patternNames = ["solid", "dashed", "dotted", "densely dashed"];
        var plot = PlotSeries.NewPlot();
        var levelsDrawn = new HashSet<int>();
        var styles = new List<string>();
        for (var c = 0; c < data.Count; c++)
        {
            var logs = data[c].HpfLogs.Values.ToList();
            if (logs.Count == 0) continue;
            // Mean over seeds at each iteration (the runs of a cell share their schedule).
            var total = logs.Max(l => l.TotalIterations);
            var sums = new SortedDictionary<int, (double[] Sum, int[] Count)>();
            foreach (var (log, _) in logs)
                foreach (var it in log)
                {
                    if (it.Gamma is not { Length: > 0 } gamma) continue;
                    if (!sums.TryGetValue(it.Iteration, out var s)) sums[it.Iteration] = s = (new double[gamma.Length], new int[gamma.Length]);
                    for (var l = 0; l < Math.Min(gamma.Length, s.Sum.Length); l++)
                        if (double.IsFinite(gamma[l])) { s.Sum[l] += gamma[l]; s.Count[l]++; }
                }
            if (sums.Count == 0) continue;
            var xs = sums.Keys.Select(i => (double)i / total).ToArray();
            var levels = sums.Values.Max(s => s.Sum.Length);
            var names = PlotSeries.LevelNames(levels, null);
            var drew = false;
            for (var l = 0; l < levels; l++)
            {
                var mean = sums.Values.Select(s => l < s.Sum.Length && s.Count[l] > 0 ? s.Sum[l] / s.Count[l] : double.NaN).ToArray();
                var (sx, sy) = PlotSeries.Finite(xs, PlotSeries.MovingAverage(mean, PlotSeries.DefaultWindow(xs.Length)));
                if (sx.Length == 0) continue;
                var line = plot.Add.ScatterLine(sx, sy, PlotSeries.ColorAt(l));
                line.LineWidth = 1.8f;
                line.LinePattern = patterns[c % patterns.Length];
                if (levelsDrawn.Add(l)) line.LegendText = names[l];
                drew = true;
            }
            if (drew) styles.Add($"{data[c].Cell.Name} {patternNames[c % patterns.Length]} ({logs.Count} run{(logs.Count == 1 ? "" : "s")})");
        }
        if (levelsDrawn.Count == 0) return (path, "the hpf logs hold no finite γ");
        plot.Title($"HPF γ per level, mean over seeds, moving average: {string.Join(", ", styles)}");
        plot.XLabel("fraction of training done (iteration / total iterations)");
        plot.YLabel("γ");
        plot.Axes.SetLimitsX(0, 1);
        plot.ShowLegend(Edge.Right);
        return (PlotSeries.Save(plot, path), null);
    }
}
