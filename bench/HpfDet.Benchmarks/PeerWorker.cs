using System.Diagnostics;
using System.Globalization;
using HpfDet.Losses;
using HpfDet.Models;
using HpfDet.Models.Backbones;
using HpfDet.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Benchmarks;

/// <summary>
/// One HpfDet detector kept warm in its own process for bench/peer/peer_bench.py, which interleaves it
/// with torchvision's detectors (A B A B) and compares medians. Protocol on stdin/stdout, one line each:
/// "train N" → N training steps (forward, losses, backward, SGD step), "infer N" → N single-image
/// predictions; the reply is the N times in milliseconds, space-separated; "rss" → peak resident MiB;
/// "quit" ends. The first line written is "ready".
/// Run: dotnet run -c Release --project bench/HpfDet.Benchmarks -- peer-worker MODEL WIDTH HEIGHT BATCH CLASSES CHANNELS
/// (MODEL@bf16: train.precision bf16 — a bfloat16 channels-last working copy with float32 master weights —
/// for "train", and that working copy in evaluation mode for "infer").
/// </summary>
public static class PeerWorker
{
    public static void Run(string modelName, int width, int height, int batch, int classes, int channels)
    {
        HpfDet.NativeMemory.TuneAllocatorForTensors();
        torch.manual_seed(0);
        // "atss-r18@bf16": bf16 training (BFloat16Training); inference runs the same bfloat16 working copy.
        var nameAndPrecision = modelName.Split('@');
        ComputePrecision? precision = nameAndPrecision.Length > 1 ? ComputePrecisionNames.Parse(nameAndPrecision[1]) : null;
        // Stem and first stage frozen, BatchNorm frozen: torchvision's trainable_layers=3 with FrozenBatchNorm2d.
        var model = BenchmarkProblem.Detector(nameAndPrecision[0], classes, channels);
        var optimizer = new SgdMomentum(model.named_parameters(), 0.9, 1e-4);
        using var bf16 = precision == ComputePrecision.BFloat16 ? BFloat16Training.Start(model, optimizer) : null;
        var images = torch.randn(batch, 3, height, width);
        var targets = BenchmarkProblem.Targets(batch, width);
        Console.WriteLine("ready");
        Console.Out.Flush();
        string? line;
        while ((line = Console.ReadLine()) is not null)
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 0) continue;
            if (parts[0] == "quit") break;
            if (parts[0] == "rss")
            {
                using var process = Process.GetCurrentProcess();
                Console.WriteLine((process.PeakWorkingSet64 >> 20).ToString(CultureInfo.InvariantCulture));
                Console.Out.Flush();
                continue;
            }
            int n = parts.Length > 1 ? int.Parse(parts[1], CultureInfo.InvariantCulture) : 1;
            var times = new List<double>(n);
            for (int i = 0; i < n; i++)
            {
                var sw = Stopwatch.StartNew();
                using (var scope = torch.NewDisposeScope())
                {
                    if (parts[0] == "train")
                    {
                        model.train();
                        var losses = model.ComputeLosses(images, targets);
                        optimizer.ZeroGrad();
                        losses.Total.backward();
                        optimizer.Step(0.001);
                    }
                    else
                    {
                        model.eval();
                        model.Predict(images.narrow(0, 0, 1));
                    }
                }
                times.Add(sw.Elapsed.TotalMilliseconds);
            }
            Console.WriteLine(string.Join(' ', times.Select(t => t.ToString("F2", CultureInfo.InvariantCulture))));
            Console.Out.Flush();
        }
        model.Dispose();
        optimizer.Dispose();
    }
}
