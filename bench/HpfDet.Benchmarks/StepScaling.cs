using System.Diagnostics;
using System.Globalization;
using System.Text;
using HpfDet.Visualization;
using ScottPlot;

namespace HpfDet.Benchmarks;

/// <summary>
/// How the training step's time and the process's peak memory grow with input size and batch, for one
/// detector in float32 and bfloat16 (docs/benchmarks.md). Every configuration runs in a fresh
/// <see cref="PeerWorker"/> process, because peak resident memory only ever grows within a process: one
/// warm-up step, then <c>steps</c> timed steps (median), then the peak RSS. Writes a markdown table to
/// stdout and <c>step_scaling.csv</c> and <c>step_scaling.png</c> (two panels: step time and peak RSS
/// against megapixels per image, one line per batch and precision) to the output folder.
/// Run: dotnet run -c Release --project bench/HpfDet.Benchmarks -- step-scaling OUT_DIR [MODEL] [STEPS];
/// redraw the chart only: -- step-scaling-chart CSV PNG
/// </summary>
public static class StepScaling
{
    static readonly (int Width, int Height)[] Sizes = [(320, 240), (512, 384), (800, 608), (1333, 800)];
    static readonly int[] Batches = [1, 2, 4];
    static readonly string[] Precisions = ["", "@bf16"];

    public record Row(string Model, string Precision, int Width, int Height, int Batch, double StepMs, double MinMs, double MaxMs, long PeakMiB);

    public static void Run(string outDir, string model = "atss-r18", int steps = 3)
    {
        Directory.CreateDirectory(outDir);
        var rows = new List<Row>();
        Console.WriteLine($"{model}, 80 classes, 256-channel neck and head, stem and layer1 frozen; 1 warm-up + {steps} timed steps per configuration, each in its own process");
        Console.WriteLine("| precision | input | batch | train step (ms, median) | min–max | peak RSS (MiB) |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|");
        foreach (var precision in Precisions)
            foreach (var (width, height) in Sizes)
                foreach (var batch in Batches)
                {
                    var row = Measure(model + precision, width, height, batch, steps);
                    rows.Add(row);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"| {row.Precision} | {width}×{height} | {batch} | {row.StepMs:F0} | {row.MinMs:F0}–{row.MaxMs:F0} | {row.PeakMiB} |"));
                }
        var csv = new StringBuilder("model,precision,width,height,batch,step_ms,min_ms,max_ms,peak_rss_mib\n");
        foreach (var r in rows)
            csv.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Model},{r.Precision},{r.Width},{r.Height},{r.Batch},{r.StepMs:F1},{r.MinMs:F1},{r.MaxMs:F1},{r.PeakMiB}"));
        File.WriteAllText(Path.Combine(outDir, "step_scaling.csv"), csv.ToString());
        var png = Chart(rows, Path.Combine(outDir, "step_scaling.png"));
        Console.WriteLine($"Wrote {Path.Combine(outDir, "step_scaling.csv")} and {png}");
    }

    /// <summary>Draws the chart again from a CSV that <see cref="Run"/> wrote (no measuring).</summary>
    public static void ChartFromCsv(string csvPath, string pngPath)
    {
        var rows = File.ReadAllLines(csvPath).Skip(1).Where(l => l.Length > 0).Select(l =>
        {
            var f = l.Split(',');
            double D(int i) => double.Parse(f[i], CultureInfo.InvariantCulture);
            return new Row(f[0], f[1], int.Parse(f[2], CultureInfo.InvariantCulture), int.Parse(f[3], CultureInfo.InvariantCulture),
                int.Parse(f[4], CultureInfo.InvariantCulture), D(5), D(6), D(7), long.Parse(f[8], CultureInfo.InvariantCulture));
        }).ToList();
        Console.WriteLine($"Wrote {Chart(rows, pngPath)}");
    }

    /// <summary>Runs one configuration in a fresh worker process and returns its median step time and peak RSS.</summary>
    static Row Measure(string model, int width, int height, int batch, int steps)
    {
        // Re-launch this benchmark (apphost, or "dotnet HpfDet.Benchmarks.dll") as a peer worker.
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("No process path to re-launch the benchmark.");
        var start = new ProcessStartInfo(self) { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") start.ArgumentList.Add(typeof(StepScaling).Assembly.Location);
        foreach (var a in new[] { "peer-worker", model, $"{width}", $"{height}", $"{batch}", "80", "256" }) start.ArgumentList.Add(a);
        using var worker = Process.Start(start) ?? throw new InvalidOperationException("Could not start the peer worker.");
        string Ask(string command)
        {
            if (command.Length > 0) { worker.StandardInput.WriteLine(command); worker.StandardInput.Flush(); }
            return worker.StandardOutput.ReadLine() ?? throw new InvalidOperationException($"The worker for {model} {width}x{height} batch {batch} ended early.");
        }
        while (Ask("") != "ready") { }
        Ask("train 1");
        var times = Ask($"train {steps}").Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(t => double.Parse(t, CultureInfo.InvariantCulture)).ToList();
        var peak = long.Parse(Ask("rss"), CultureInfo.InvariantCulture);
        worker.StandardInput.WriteLine("quit");
        worker.StandardInput.Flush();
        worker.WaitForExit();
        var name = model.Split('@');
        return new Row(name[0], name.Length > 1 ? name[1] : "fp32", width, height, batch, BenchStats.Median(times), times.Min(), times.Max(), peak);
    }

    static string Chart(IReadOnlyList<Row> rows, string path)
    {
        var timePlot = PlotSeries.NewPlot();
        var memoryPlot = PlotSeries.NewPlot();
        var groups = rows.GroupBy(r => (r.Precision, r.Batch)).ToList();
        for (int g = 0; g < groups.Count; g++)
        {
            var points = groups[g].OrderBy(r => r.Width * r.Height).ToList();
            var megapixels = points.Select(r => r.Width * r.Height / 1e6).ToArray();
            var color = PlotSeries.ColorAt(Array.IndexOf(Batches, groups[g].Key.Batch));
            var pattern = groups[g].Key.Precision == "fp32" ? LinePattern.Solid : LinePattern.Dashed;
            var legend = $"batch {groups[g].Key.Batch}, {groups[g].Key.Precision}{(groups[g].Key.Precision == "fp32" ? "" : " (dashed)")}";
            var time = timePlot.Add.Scatter(megapixels, points.Select(r => r.StepMs / 1000).ToArray(), color);
            time.LinePattern = pattern;
            time.LegendText = legend;
            var memory = memoryPlot.Add.Scatter(megapixels, points.Select(r => r.PeakMiB / 1024.0).ToArray(), color);
            memory.LinePattern = pattern;
            memory.LegendText = legend;
        }
        var model = rows.Count > 0 ? rows[0].Model : "";
        timePlot.Title($"{model}: training step time");
        timePlot.XLabel("input megapixels per image (320×240 … 1333×800)");
        timePlot.YLabel("step (s), median");
        memoryPlot.Title($"{model}: peak resident memory of the process");
        memoryPlot.XLabel("input megapixels per image (320×240 … 1333×800)");
        memoryPlot.YLabel("peak RSS (GiB)");
        foreach (var plot in new[] { timePlot, memoryPlot })
        {
            plot.ShowLegend(Alignment.UpperLeft);
            plot.Axes.SetLimitsY(0, plot.Axes.GetLimits().Top * 1.05);
        }
        var multiplot = new Multiplot();
        multiplot.Reset(timePlot);
        multiplot.AddPlot(memoryPlot);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Grid(1, 2);
        multiplot.SavePng(path, 1400, 560);
        return path;
    }
}
