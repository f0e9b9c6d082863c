using HpfDet.Tests.Infrastructure;
using HpfDet.Training;
using HpfDet.Visualization;
using SkiaSharp;

namespace HpfDet.Tests.Visualization;

public class CompareReportTests
{
    static double[] Stats(double ap) => [ap, ap + 0.3, ap + 0.1, -1, ap - 0.1, ap + 0.05, 0.1, 0.2, 0.3, -1, 0.2, 0.4];

    static CompareRun Run(string dir, string loss, int seed, double ap, double[] perClass, double voc, bool withLog)
    {
        var runDir = Path.Combine(dir, $"{loss}-{seed}");
        Directory.CreateDirectory(runDir);
        if (withLog)
            File.WriteAllLines(Path.Combine(runDir, "log.jsonl"),
                VisualizationTestLogs.Iterations(40, lossScale: 1 + seed * 0.1).Select(TrainingLogJson.ToLine));
        return new CompareRun(loss, seed, runDir, Stats(ap), perClass, ["rbc", "wbc", "platelets"], voc);
    }

    [Fact]
    public void Report_holds_mean_and_sample_std_per_loss_and_the_charts()
    {
        using var dir = TestPaths.NewTempDir("hpfdet-compare");
        CompareRun[] runs =
        [
            Run(dir, "focal", 0, 0.30, [0.20, 0.50, -1], 0.60, withLog: true),
            Run(dir, "focal", 1, 0.40, [0.30, 0.60, 0.10], 0.70, withLog: true),
            Run(dir, "hpf", 0, 0.42, [0.40, 0.55, 0.20], 0.72, withLog: true),
            Run(dir, "hpf", 1, 0.46, [0.44, 0.65, 0.30], 0.76, withLog: false),
            Run(dir, "qfl", 0, 0.50, [0.1, 0.2, 0.3], 0.80, withLog: true),
        ];
        var outDir = Path.Combine(dir, "report");
        var report = CompareReport.Write(runs, outDir, "BCCD losses");
        Assert.Equal(Path.Combine(outDir, "report.md"), report);
        var md = File.ReadAllText(report);

        Assert.StartsWith("# BCCD losses", md);
        // Run table: AP, AP50, AP75, APs (undefined), APm, APl, VOC of focal seed 0.
        Assert.Contains("| focal | 0 | 0.300 | 0.600 | 0.400 | – | 0.200 | 0.350 | 0.600 |", md);
        // By hand: focal AP 0.30, 0.40 -> mean 0.350, std sqrt(2 * 0.05² / 1) = 0.0707;
        // AP50 0.60, 0.70 -> 0.650 ± 0.071; APs undefined in both -> "–"; VOC 0.60, 0.70 -> 0.650 ± 0.071.
        Assert.Contains("| focal | 2 | 0.350 ± 0.071 | 0.650 ± 0.071 | 0.450 ± 0.071 | – | 0.250 ± 0.071 | 0.400 ± 0.071 | 0.650 ± 0.071 |", md);
        // hpf AP 0.42, 0.46 -> 0.440 ± sqrt(2 * 0.02²) = 0.028.
        Assert.Contains("| hpf | 2 | 0.440 ± 0.028 |", md);
        // One seed: the value alone.
        Assert.Contains("| qfl | 1 | 0.500 | 0.800 |", md);
        // Per class: rbc focal 0.20, 0.30 -> 0.250 ± 0.071; hpf 0.40, 0.44 -> 0.420 ± 0.028; platelets focal has one defined value.
        Assert.Contains("| rbc | 0.250 ± 0.071 | 0.420 ± 0.028 | 0.100 |", md);
        Assert.Contains("| platelets | 0.100 (n=1) | 0.250 ± 0.071 | 0.300 |", md);
        // Positive shares by hand (40 logged iterations, none at iteration 10): P3 39·40 + Σ i%5 = 1640,
        // P4 1170, P5 780, P6 312, P7 78 of 3980.
        Assert.Contains("| focal | 0.412 | 0.294 | 0.196 | 0.078 | 0.020 |", md);
        // γ over the last epoch (iterations 31-40): P5 is 2, P6 sits at 4, P7 is 2.5 where defined.
        Assert.Contains("| 2.000 | 4.000 | 2.500 |", md);
        // The run without a log is named.
        Assert.Contains("Runs without log.jsonl or log.jsonl.gz (1 of 5)", md);
        Assert.Contains("- hpf, seed 1:", md);

        foreach (var chart in new[] { "ap_by_loss.png", "loss_curves.png", "gamma_trajectories.png", "positive_proportions.png" })
        {
            var path = Path.Combine(outDir, chart);
            Assert.True(File.Exists(path), $"{chart} missing");
            Assert.Contains($"]({chart})", md);
            using var bitmap = SKBitmap.Decode(path);
            Assert.NotNull(bitmap);
            Assert.Equal((1000, 560), (bitmap.Width, bitmap.Height));
        }
    }

    [Fact]
    public void Summary_json_holds_the_report_numbers_and_the_training_minutes()
    {
        using var dir = TestPaths.NewTempDir("hpfdet-compare");
        CompareRun[] runs =
        [
            Run(dir, "focal", 0, 0.30, [0.20, 0.50, -1], 0.60, withLog: false),
            Run(dir, "focal", 1, 0.40, [0.30, 0.60, 0.10], 0.70, withLog: false),
            Run(dir, "hpf", 0, 0.42, [0.40, 0.55, 0.20], 0.72, withLog: false),
        ];
        // focal seed 0 gets a config (batch 4) and a log of two iterations at 2 and 4 images/s:
        // (4/2 + 4/4) s = 3 s = 0.05 min.
        var config = new RunConfig();
        config.Train.Batch = 4;
        File.WriteAllText(Path.Combine(runs[0].RunDir, "config.yaml"), config.ToYaml());
        IterationLog It(int i, double ips) => new(1, i, i, 2, 1.0, new Dictionary<string, double>(), 0.01,
            [2.5, 2.0], [0.2, 0.25], [3, 1], [1.0, 1.0], ips, 0, 0, null);
        File.WriteAllLines(Path.Combine(runs[0].RunDir, "log.jsonl"), new[] { It(1, 2), It(2, 4) }.Select(TrainingLogJson.ToLine));
        var outDir = Path.Combine(dir, "report");
        CompareReport.Write(runs, outDir, "summary");
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "summary.json")));
        var focal = doc.RootElement.GetProperty("groups")[0];
        Assert.Equal("focal", focal.GetProperty("name").GetString());
        // AP 0.30, 0.40: mean 0.35, sample std 0.05·√2 = 0.0707; APs undefined in both: null.
        Assert.Equal(0.35, focal.GetProperty("mean").GetProperty("AP").GetDouble(), 9);
        Assert.Equal(0.05 * Math.Sqrt(2), focal.GetProperty("std").GetProperty("AP").GetDouble(), 9);
        Assert.Equal(System.Text.Json.JsonValueKind.Null, focal.GetProperty("mean").GetProperty("APs").ValueKind);
        Assert.Equal(0.65, focal.GetProperty("mean").GetProperty("VOC mAP50").GetDouble(), 9);
        // Per class rbc 0.20, 0.30 → 0.25.
        Assert.Equal(0.25, focal.GetProperty("per_class").GetProperty("rbc").GetProperty("mean").GetDouble(), 9);
        // Positives 3 + 3 and 1 + 1 over the run → shares 0.75 and 0.25; γ over the last epoch 2.5 and 2.0.
        Assert.Equal(0.75, focal.GetProperty("positive_share")[0].GetDouble(), 9);
        Assert.Equal(2.5, focal.GetProperty("gamma_last_epoch")[0].GetDouble(), 9);
        var first = doc.RootElement.GetProperty("runs")[0];
        Assert.Equal(0.05, first.GetProperty("training_minutes").GetDouble(), 9);
        Assert.Equal(System.Text.Json.JsonValueKind.Null, doc.RootElement.GetProperty("runs")[1].GetProperty("training_minutes").ValueKind);
    }

    [Fact]
    public void Gamma_trajectories_are_drawn_for_hpf_runs_of_a_comparison_across_models()
    {
        using var dir = TestPaths.NewTempDir("hpfdet-compare");
        CompareRun[] runs =
        [
            Run(dir, "atss-r18 fl", 0, 0.30, [0.2, 0.3, 0.4], 0.6, withLog: true),
            Run(dir, "atss-r18 hpf", 0, 0.32, [0.2, 0.3, 0.4], 0.6, withLog: true),
            Run(dir, "gfl-r18 qfl", 0, 0.31, [0.2, 0.3, 0.4], 0.6, withLog: true),
            Run(dir, "gfl-r18 hpf", 0, 0.33, [0.2, 0.3, 0.4], 0.6, withLog: true),
        ];
        var outDir = Path.Combine(dir, "report");
        var md = File.ReadAllText(CompareReport.Write(runs, outDir, "models"));
        Assert.True(File.Exists(Path.Combine(outDir, "gamma_trajectories.png")));
        Assert.DoesNotContain("gamma_trajectories.png: not written", md);
        // One panel per model with hpf runs (two here, side by side), not one overlaid plot.
        using var codec = SkiaSharp.SKCodec.Create(Path.Combine(outDir, "gamma_trajectories.png"));
        Assert.True(codec.Info.Width > 2 * codec.Info.Height, $"{codec.Info.Width}x{codec.Info.Height} is not two panels side by side");
    }

    [Fact]
    public void Charts_that_need_logs_are_left_out_and_said_so()
    {
        using var dir = TestPaths.NewTempDir("hpfdet-compare");
        CompareRun[] runs =
        [
            Run(dir, "focal", 0, 0.30, [0.2, 0.3, 0.4], 0.6, withLog: false),
            Run(dir, "focal", 1, 0.40, [0.2, 0.3, 0.4], 0.7, withLog: false),
        ];
        var outDir = Path.Combine(dir, "report");
        var md = File.ReadAllText(CompareReport.Write(runs, outDir, "no logs"));
        Assert.True(File.Exists(Path.Combine(outDir, "ap_by_loss.png")));
        foreach (var chart in new[] { "loss_curves.png", "gamma_trajectories.png", "positive_proportions.png" })
        {
            Assert.False(File.Exists(Path.Combine(outDir, chart)));
            Assert.Contains($"- {chart}: not written (", md);
        }
    }

    [Fact]
    public void Runs_on_different_classes_are_refused()
    {
        using var dir = TestPaths.NewTempDir("hpfdet-compare");
        var a = Run(dir, "focal", 0, 0.3, [0.2, 0.3, 0.4], 0.6, withLog: false);
        var b = a with { Seed = 1, ClassNames = ["car", "bus", "truck"] };
        var e = Assert.Throws<HpfDetException>(() => CompareReport.Write([a, b], Path.Combine(dir, "r"), "t"));
        Assert.Contains("car, bus, truck", e.Message);
    }
}
