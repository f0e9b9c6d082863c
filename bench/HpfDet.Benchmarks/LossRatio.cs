using System.Diagnostics;

namespace HpfDet.Benchmarks;

/// <summary>
/// Times forward+backward of each loss variant in interleaved rounds (every variant once per round,
/// in a shuffled order) so that load
/// from other processes hits all variants alike, and prints medians and the ratio to focal loss.
/// </summary>
public static class LossRatio
{
    public static void Run(int rounds)
    {
        if (Environment.GetEnvironmentVariable("HPFDET_DEFAULT_MALLOC") != "1")
            Console.WriteLine($"allocator tuned: {HpfDet.NativeMemory.TuneAllocatorForTensors()}");
        string[] variants = ["fl", "fl-nostats", "hpf", "hpf-alllevels"];
        var benches = variants.Select(v => { var b = new ClassificationLossBenchmarks { Loss = v }; b.Setup(); return b; }).ToArray();
        foreach (var b in benches) for (int i = 0; i < 3; i++) b.ForwardBackward();   // warm-up
        var times = variants.Select(_ => new List<double>()).ToArray();
        var rng = new Random(0);
        for (int r = 0; r < rounds; r++)
            foreach (var k in Enumerable.Range(0, benches.Length).OrderBy(_ => rng.Next()))   // a new order each round
            {
                var sw = Stopwatch.StartNew();
                benches[k].ForwardBackward();
                times[k].Add(sw.Elapsed.TotalMilliseconds);
            }
        double fl = BenchStats.Median(times[0]);
        Console.WriteLine($"{"variant",-14} {"median ms",10} {"ratio to fl",12}");
        for (int k = 0; k < variants.Length; k++)
            Console.WriteLine($"{variants[k],-14} {BenchStats.Median(times[k]),10:F2} {BenchStats.Median(times[k]) / fl,12:F3}");
        // Paired ratio: per round, HPF / FL, then the median (cancels slow phases of the machine).
        var paired = times[2].Zip(times[0], (h, f) => h / f).OrderBy(x => x).ToArray();
        Console.WriteLine($"paired median ratio hpf/fl over {rounds} rounds: {paired[paired.Length / 2]:F3}");
    }
}
