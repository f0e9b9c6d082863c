using System.Diagnostics;
using HpfDet.Losses;
using HpfDet.Models;
using HpfDet.Models.Backbones;
using HpfDet.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HpfDet.Benchmarks;

/// <summary>
/// Training step and inference time of ATSS-R18-FPN (256-channel FPN and head, 4 convs, as the paper's
/// ATSS but for the depth), batch 2, on this machine; peak resident memory; and the achieved
/// convolution FLOP/s of the training step against a given peak.
/// Run: dotnet run -c Release --project bench/HpfDet.Benchmarks -- atss-step [peakGflops=157]
/// </summary>
public static class AtssStepBenchmark
{
    public static void Run(double peakGflops, int steps)
    {
        Console.WriteLine($"allocator tuned: {HpfDet.NativeMemory.TuneAllocatorForTensors()}, torch threads: {torch.get_num_threads()}");
        Calibrate();
        foreach (var (w, h) in new[] { (512, 384), (320, 240) })
            foreach (var lossName in new[] { "fl", "hpf" })
                Measure(w, h, lossName, peakGflops, steps);
    }

    static void Measure(int width, int height, string lossName, double peakGflops, int steps)
    {
        torch.manual_seed(0);
        IClassificationLoss loss = lossName == "hpf" ? new HierarchicalProgressiveFocalLoss() : new SigmoidFocalLoss();
        var backboneOptions = new ResNetOptions(ResNetDepth.R18, FrozenStages: 1, NormEval: true);
        var model = new AtssDetector(new AtssDetectorOptions(80, backboneOptions), loss);
        var optimizer = new SgdMomentum(model.named_parameters(), 0.9, 1e-4);
        const int batch = 2;
        var images = torch.randn(batch, 3, height, width);
        var targets = BenchmarkProblem.Targets(batch, width);
        double convFlops = ConvFlopsOfTrainingStep(model, images);

        model.train();
        var times = new List<double>();
        for (int i = 0; i < steps + 2; i++)
        {
            var sw = Stopwatch.StartNew();
            using (var scope = torch.NewDisposeScope())
            {
                var l = model.ComputeLosses(images, targets);
                optimizer.ZeroGrad();
                l.Total.backward();
                optimizer.Step(0.001);
            }
            if (i >= 2) times.Add(sw.Elapsed.TotalSeconds);   // two warm-up steps
        }
        model.eval();
        var inference = new List<double>();
        for (int i = 0; i < steps + 1; i++)
        {
            var sw = Stopwatch.StartNew();
            using (var scope = torch.NewDisposeScope())
                model.Predict(images.narrow(0, 0, 1));
            if (i >= 1) inference.Add(sw.Elapsed.TotalSeconds);
        }
        double step = BenchStats.Median(times);
        using var process = Process.GetCurrentProcess();
        Console.WriteLine($"{width}x{height} {lossName,-3}: train step {step * 1000:F0} ms ({batch / step:F2} img/s), inference {BenchStats.Median(inference) * 1000:F0} ms/img, " +
            $"conv FLOPs/step {convFlops / 1e9:F1} G -> {convFlops / step / 1e9:F1} GFLOP/s = {100 * convFlops / step / 1e9 / peakGflops:F0}% of {peakGflops} GFLOP/s peak, " +
            $"peak RSS {process.PeakWorkingSet64 >> 20} MiB");
        model.Dispose();
        optimizer.Dispose();
    }

    /// <summary>Throughput of one large 3×3 convolution alone: what libtorch reaches on this CPU at best.</summary>
    static void Calibrate()
    {
        using var scope = torch.NewDisposeScope();
        using var conv = nn.Conv2d(256, 256, 3, padding: 1);
        var x = torch.randn(2, 256, 48, 64);
        double flops = 2.0 * 256 * 256 * 9 * 48 * 64 * 2;
        var t = new List<double>();
        using (torch.no_grad())
            for (int i = 0; i < 12; i++)
            {
                var sw = Stopwatch.StartNew();
                conv.forward(x).Dispose();
                if (i >= 2) t.Add(sw.Elapsed.TotalSeconds);
            }
        Console.WriteLine($"calibration: one 3x3 conv 256->256 on 2x48x64: {BenchStats.Median(t) * 1000:F1} ms = {flops / BenchStats.Median(t) / 1e9:F0} GFLOP/s (direct-convolution count)");
    }

    /// <summary>
    /// 2·Cin/groups·Cout·k²·Hout·Wout per conv in the forward pass; the backward pass adds the same
    /// for the weight gradient and for the input gradient of every trainable conv (the frozen stem and
    /// first stage need neither).
    /// </summary>
    static double ConvFlopsOfTrainingStep(DenseDetector model, Tensor images)
    {
        double forward = 0, backward = 0;
        var hooks = new List<Action>();
        foreach (var (_, m) in model.named_modules())
            if (m is Conv2d conv)
                { var remover = conv.register_forward_hook((mod, input, output) =>
                {
                    var w = conv.weight!;
                    double f = 2.0 * w.shape[1] * w.shape[0] * w.shape[2] * w.shape[3] * output.shape[0] * output.shape[2] * output.shape[3];
                    forward += f;
                    if (w.requires_grad) backward += 2 * f;
                    return output;
                }); hooks.Add(remover.remove); }
        using (torch.no_grad())
        using (var scope = torch.NewDisposeScope())
            model.forward(images);
        foreach (var remove in hooks) remove();
        return forward + backward;
    }
}
