using System.Diagnostics;
using System.Globalization;
using HpfDet.Models;
using HpfDet.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Benchmarks;

/// <summary>
/// Training step and inference time of every registered detector on <see cref="BenchmarkProblem"/>, interleaved
/// (one step of each detector per round, so a busy moment of the machine hits all alike), medians over the
/// rounds. A step is forward, losses, backward and an SGD step on a batch; inference is <c>Predict</c> on one
/// image. Run: dotnet run -c Release --project bench/HpfDet.Benchmarks -- detectors W H BATCH ROUNDS [DEPTH]
/// </summary>
public static class DetectorTimes
{
    public static void Run(int width, int height, int batch, int rounds, string depth = "r18")
    {
        HpfDet.NativeMemory.TuneAllocatorForTensors();
        torch.manual_seed(0);
        var names = DetectorRegistry.Families.Select(f => $"{f.Name}-{depth}").ToList();
        var images = torch.randn(batch, 3, height, width);
        var targets = BenchmarkProblem.Targets(batch, width);
        var models = names.Select(n => BenchmarkProblem.Detector(n)).ToList();
        var optimizers = models.Select(m => new SgdMomentum(m.named_parameters(), 0.9, 1e-4)).ToList();
        var train = names.Select(_ => new List<double>()).ToList();
        var infer = names.Select(_ => new List<double>()).ToList();
        Console.WriteLine($"{names.Count} detectors at {width}x{height}, batch {batch}, {rounds} rounds (+2 warm-up), {torch.get_num_threads()} threads");
        for (int round = -2; round < rounds; round++)
        {
            for (int m = 0; m < models.Count; m++)
            {
                var sw = Stopwatch.StartNew();
                using (torch.NewDisposeScope())
                {
                    models[m].train();
                    var losses = models[m].ComputeLosses(images, targets);
                    optimizers[m].ZeroGrad();
                    losses.Total.backward();
                    optimizers[m].Step(0.001);
                }
                if (round >= 0) train[m].Add(sw.Elapsed.TotalMilliseconds);
                sw.Restart();
                using (torch.NewDisposeScope())
                {
                    models[m].eval();
                    models[m].Predict(images.narrow(0, 0, 1));
                }
                if (round >= 0) infer[m].Add(sw.Elapsed.TotalMilliseconds);
            }
            Console.Error.Write(round < 0 ? "w" : ".");
        }
        Console.Error.WriteLine();
        Console.WriteLine("| detector | train step (ms, median) | min–max | inference per image (ms, median) | min–max |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        for (int m = 0; m < models.Count; m++)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {names[m]} | {BenchStats.Median(train[m]):F0} | {train[m].Min():F0}–{train[m].Max():F0} | {BenchStats.Median(infer[m]):F0} | {infer[m].Min():F0}–{infer[m].Max():F0} |"));
        foreach (var o in optimizers) o.Dispose();
        foreach (var model in models) model.Dispose();
    }
}
