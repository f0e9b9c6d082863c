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
/// A/B of one speed change at a time on the peer benchmark's configuration (ResNet-18, stem and layer1
/// frozen, 256-channel FPN and head, 80 classes): two identical detectors in one process, A the default and
/// B with the change, timed alternately (A B A B) so load from elsewhere hits both alike; medians and
/// their ratio. Before timing, one step of each on the same weights and images checks that the change
/// keeps the losses and gradients (the largest difference is printed).
/// Run: dotnet run -c Release --project bench/HpfDet.Benchmarks -- layout-ab CHANGE MODEL W H BATCH ROUNDS
/// with CHANGE one of: channels-last (training and inference), train-bf16 (train.precision: bf16), inference-fp32, inference-bf16, inference-fp32-channels-last,
/// inference-bf16-channels-last (PrepareForInference, which folds the backbone's BatchNorms), inference-fold and
/// inference-bf16-fold (the folding alone: A and B both prepared, A without folding).
/// </summary>
public static class LayoutAb
{
    public static void Run(string change, string modelName, int width, int height, int batch, int rounds)
    {
        HpfDet.NativeMemory.TuneAllocatorForTensors();
        var (a, optA) = Build(modelName, batch);
        var (b, optB) = Build(modelName, batch);
        var images = torch.randn(batch, 3, height, width, generator: new Generator(1));
        var targets = BenchmarkProblem.Targets(batch, width);
        var imagesB = images;
        switch (change)
        {
            case "channels-last":
                ChannelsLast.Convert(b);
                imagesB = ChannelsLast.Of(images);
                break;
            case "train-bf16":
            case "train-bf16-contiguous":
                // B trains as bfloat16 working copy with float32 master weights (train.precision: bf16).
                BFloat16Training.Start(b, optB, channelsLast: change == "train-bf16");
                break;
            case "inference-fp32":
            case "inference-bf16":
            case "inference-fp32-channels-last":
            case "inference-bf16-channels-last":
                // Inference only: B prepared (bfloat16 for the bf16 changes, channels-last where named), full Predict of one image.
                b.PrepareForInference(change.Contains("bf16") ? ComputePrecision.BFloat16 : ComputePrecision.Float32, channelsLast: change.EndsWith("channels-last"));
                InferenceOnly(a, b, images, rounds);
                return;
            case "inference-fold":
            case "inference-bf16-fold":
                // BatchNorm folding alone: both prepared alike (float32 contiguous, or bfloat16 channels-last), A unfolded.
                var precision = change.Contains("bf16") ? ComputePrecision.BFloat16 : ComputePrecision.Float32;
                a.PrepareForInference(precision, foldBatchNorms: false);
                b.PrepareForInference(precision);
                InferenceOnly(a, b, images, rounds);
                return;
            default: throw new ArgumentException($"Unknown change '{change}'.");
        }
        Compare(a, b, images, imagesB, targets);
        var ta = new List<double>();
        var tb = new List<double>();
        var ia = new List<double>();
        var ib = new List<double>();
        for (int r = 0; r < rounds + 2; r++)
        {
            double x = Step(a, optA, images, targets), y = Step(b, optB, imagesB, targets);
            double u = Infer(a, images), v = Infer(b, imagesB);
            if (r < 2) continue;   // warm-up
            ta.Add(x); tb.Add(y); ia.Add(u); ib.Add(v);
        }
        Console.WriteLine($"{modelName} {width}x{height} batch {batch}, {rounds} rounds, change {change}");
        Console.WriteLine($"train step: A {BenchStats.Median(ta):F0} ms, B {BenchStats.Median(tb):F0} ms, B/A {BenchStats.Median(tb) / BenchStats.Median(ta):F3}");
        Console.WriteLine($"inference (1 image): A {BenchStats.Median(ia):F0} ms, B {BenchStats.Median(ib):F0} ms, B/A {BenchStats.Median(ib) / BenchStats.Median(ia):F3}");
    }

    /// <summary>Predict on one image, A and B alternately; prints the largest class-logit difference and the medians.</summary>
    static void InferenceOnly(DenseDetector a, DenseDetector b, Tensor images, int rounds)
    {
        a.eval();
        using (var check = torch.NewDisposeScope())
        using (var _ = torch.no_grad())
        {
            var oa = a.forward(images.narrow(0, 0, 1));
            var ob = b.forward(images.narrow(0, 0, 1));
            double diff = 0, max = 0;
            for (int l = 0; l < oa.NumLevels; l++)
            {
                diff = Math.Max(diff, (oa.ClassLogits[l] - ob.ClassLogits[l]).abs().max().item<float>());
                max = Math.Max(max, oa.ClassLogits[l].abs().max().item<float>());
            }
            Console.WriteLine($"check: largest class-logit |A-B| {diff:E2} (largest logit {max:E2})");
        }
        var ta = new List<double>();
        var tb = new List<double>();
        for (int r = 0; r < rounds + 2; r++)
        {
            double x = Infer(a, images), y = Infer(b, images);
            if (r < 2) continue;
            ta.Add(x); tb.Add(y);
        }
        Console.WriteLine($"inference (1 image): A {BenchStats.Median(ta):F0} ms, B {BenchStats.Median(tb):F0} ms, B/A {BenchStats.Median(tb) / BenchStats.Median(ta):F3}");
    }

    static (DenseDetector Model, SgdMomentum Optimizer) Build(string modelName, int batch)
    {
        torch.manual_seed(0);
        var model = BenchmarkProblem.Detector(modelName);
        return (model, new SgdMomentum(model.named_parameters(), 0.9, 1e-4));
    }

    static void Compare(DenseDetector a, DenseDetector b, Tensor imagesA, Tensor imagesB, DetectionTarget[] targets)
    {
        a.train(); b.train();
        using var scope = torch.NewDisposeScope();
        var la = a.ComputeLosses(imagesA, targets);
        var lb = b.ComputeLosses(imagesB, targets);
        la.Total.backward();
        lb.Total.backward();
        double lossDiff = Math.Abs(la.Total.item<float>() - lb.Total.item<float>());
        double gradDiff = 0, gradMax = 0;
        var gb = b.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var relative = new List<(string Name, double Relative)>();
        foreach (var (name, p) in a.named_parameters())
        {
            if (p.grad is not { } g) continue;
            var other = gb[name].grad!;
            double d = (g - other).abs().max().item<float>(), m = g.abs().max().item<float>();
            gradDiff = Math.Max(gradDiff, d);
            gradMax = Math.Max(gradMax, m);
            relative.Add((name, d / Math.Max(m, 1e-12)));
        }
        Console.WriteLine($"check: loss A {la.Total.item<float>():F6}, |A-B| {lossDiff:E2}; largest gradient |A-B| {gradDiff:E2} (largest gradient {gradMax:E2})");
        Console.WriteLine("largest relative gradient differences (max|A-B| / max|A| per parameter): " +
            string.Join(", ", relative.OrderByDescending(r => r.Relative).Take(4).Select(r => $"{r.Name} {r.Relative:E1}")));
        foreach (var p in a.parameters()) p.grad?.zero_();
        foreach (var p in b.parameters()) p.grad?.zero_();
    }

    static double Step(DenseDetector model, SgdMomentum optimizer, Tensor images, DetectionTarget[] targets)
    {
        var sw = Stopwatch.StartNew();
        using var scope = torch.NewDisposeScope();
        model.train();
        var losses = model.ComputeLosses(images, targets);
        optimizer.ZeroGrad();
        losses.Total.backward();
        optimizer.Step(0.001);
        return sw.Elapsed.TotalMilliseconds;
    }

    static double Infer(DenseDetector model, Tensor images)
    {
        var sw = Stopwatch.StartNew();
        using var scope = torch.NewDisposeScope();
        model.eval();
        model.Predict(images.narrow(0, 0, 1));
        return sw.Elapsed.TotalMilliseconds;
    }
}
