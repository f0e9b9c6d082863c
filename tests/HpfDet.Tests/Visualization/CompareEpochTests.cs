using HpfDet.Tests.Infrastructure;
using HpfDet.Visualization;
using SkiaSharp;

namespace HpfDet.Tests.Visualization;

public class CompareEpochTests
{
    [Fact]
    public void Report_has_AP_after_each_evaluated_epoch_and_the_paired_differences()
    {
        using var dir = TestPaths.NewTempDir("hpfdet-compare-epochs");
        // fl seeds 0-2: AP 0.10, 0.20, 0.30 after epoch 1 and 0.30, 0.40, 0.50 after epoch 2 (final);
        // hpf: 0.11, 0.23, 0.32 and 0.31, 0.43, 0.52; qfl one seed, evaluated after epoch 2 only.
        double[][] fl = [[0.10, 0.30], [0.20, 0.40], [0.30, 0.50]];
        double[][] hpf = [[0.11, 0.31], [0.23, 0.43], [0.32, 0.52]];
        var runs = new List<CompareRun>();
        for (var seed = 0; seed < 3; seed++)
            foreach (var (loss, ap) in new[] { ("fl", fl[seed]), ("hpf", hpf[seed]) })
                runs.Add(CompareFolder.ReadRun(loss, seed, FabricatedRuns.Write(dir, loss, seed, new Dictionary<int, double> { [1] = ap[0], [2] = ap[1] })));
        runs.Add(CompareFolder.ReadRun("qfl", 0, FabricatedRuns.Write(dir, "qfl", 0, new Dictionary<int, double> { [2] = 0.45 })));
        Assert.Equal(0.52, runs[5].Stats[0], 12);   // final.json is the last epoch's evaluation

        var outDir = Path.Combine(dir, "report");
        var md = File.ReadAllText(CompareReport.Write(runs, outDir, "epochs"));

        Assert.Contains("## AP after each evaluated epoch (mean ± std)", md);
        Assert.Contains("| epoch | fl (3 runs) | hpf (3 runs) | qfl (1 run) |", md);
        // Epoch 1: fl 0.1, 0.2, 0.3 → 0.200 ± 0.100; hpf 0.11, 0.23, 0.32 → mean 0.22, deviations -0.11, 0.01, 0.10,
        // Σ² = 0.0222, / 2 → sd 0.105; qfl was not evaluated then.
        Assert.Contains("| 1 | 0.200 ± 0.100 | 0.220 ± 0.105 | – |", md);
        Assert.Contains("| 2 | 0.400 ± 0.100 | 0.420 ± 0.105 | 0.450 |", md);

        // hpf − fl final AP per seed: 0.01, 0.03, 0.02 → mean 0.02, sd 0.01, t 3.46, p 0.0742 (PairedDifferenceTests);
        // AP50 and AP75 are AP + a constant, so the same.
        Assert.Contains("## Paired difference", md);
        Assert.Contains("| hpf − fl | AP | 3 | +0.020 | 0.010 | 3.46 | 0.0742 |", md);
        Assert.Contains("| hpf − fl | AP50 | 3 | +0.020 | 0.010 | 3.46 | 0.0742 |", md);
        Assert.Contains("| hpf − fl | AP75 | 3 | +0.020 | 0.010 | 3.46 | 0.0742 |", md);
        // qfl shares seed 0 alone: one pair, no t. qfl − fl = 0.45 − 0.30.
        Assert.Contains("| qfl − fl | AP | 1 | +0.150 | – | – | – |", md);

        var chart = Path.Combine(outDir, "ap_by_epoch.png");
        Assert.Contains("](ap_by_epoch.png)", md);
        using var bitmap = SKBitmap.Decode(chart);
        Assert.Equal((1000, 560), (bitmap.Width, bitmap.Height));
    }
}
