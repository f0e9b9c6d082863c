using System.Diagnostics;
using HpfDet.Data;
using HpfDet.Export;
using HpfDet.Inference;
using HpfDet.Models;
using HpfDet.Models.Backbones;
using TorchSharp;

namespace HpfDet.Benchmarks;

/// <summary>
/// Inference time per image, libtorch vs ONNX Runtime, on the same inputs: ATSS-R18 (3 classes, the
/// bccd setting), 512×384 input, batch 1 and 8, two threads each, rounds interleaved so that load from
/// other processes hits both alike; medians. Both sides include post-processing (threshold, top-k,
/// NMS); neither includes image decoding. `onnx-only MODEL` measures the peak resident memory of a
/// process that only loads and runs an exported model.
/// </summary>
public static class OnnxInferenceBenchmark
{
    public static void Run(int rounds)
    {
        torch.set_num_threads(2);
        Console.WriteLine($"allocator tuned: {NativeMemory.TuneAllocatorForTensors()}, torch threads {torch.get_num_threads()}, ONNX Runtime intra-op threads 2");
        torch.manual_seed(0);
        var backbone = new ResNetOptions(ResNetDepth.R18, BlocksPerStage: PretrainedWeights.ImageNetOnnxBlocksPerStage);
        using var model = new AtssDetector(new AtssDetectorOptions(3, backbone));
        model.eval();
        var path = Path.Combine(Path.GetTempPath(), $"hpfdet-bench-{Environment.ProcessId}.onnx");
        OnnxExporter.Save(model, path, new OnnxExportMetadata(["a", "b", "c"], ImageNormalization.CaffeBgr, 384, 512,
            model.Inference.ScoreThreshold, model.Inference.PreNmsTopK, model.Inference.NmsIoU, model.Inference.MaxDetections));
        using var detector = OnnxDetector.Load(path, new OnnxDetectorOptions(IntraOpThreads: 2));
        const int h = 384, w = 512;
        foreach (var batch in new[] { 1, 8 })
        {
            var rng = new Random(batch);
            var rgb = Enumerable.Range(0, batch * 3 * h * w).Select(_ => (float)rng.Next(256)).ToArray();
            using var input = torch.tensor(rgb, [batch, 3, h, w]).index_select(1, torch.tensor(new long[] { 2, 1, 0 }))
                .sub(torch.tensor(ImageNormalization.CaffeBgr.Mean).reshape(1, 3, 1, 1));
            var sizes = Enumerable.Repeat((h, w), batch).ToArray();
            var place = new OnnxDetector.Placement(w, h, w, h);
            var torchMs = new List<double>();
            var onnxMs = new List<double>();
            for (int r = -2; r < rounds; r++)   // two warm-up rounds
            {
                var sw = Stopwatch.StartNew();
                using (var scope = torch.NewDisposeScope()) model.Predict(input, sizes);
                double t = sw.Elapsed.TotalMilliseconds;
                sw.Restart();
                var raw = detector.Run(rgb, batch, h, w);
                for (int b = 0; b < batch; b++) detector.Postprocess(raw, b, h, w, place);
                double o = sw.Elapsed.TotalMilliseconds;
                if (r >= 0) { torchMs.Add(t / batch); onnxMs.Add(o / batch); }
            }
            var ratios = torchMs.Zip(onnxMs, (t, o) => o / t).ToList();
            Console.WriteLine($"batch {batch}: libtorch {BenchStats.Median(torchMs):F1} ms/image, ONNX Runtime {BenchStats.Median(onnxMs):F1} ms/image, ONNX/libtorch {BenchStats.Median(ratios):F2} (median of {rounds} paired rounds)");
        }
        File.Delete(path);
    }

    /// <summary>Loads an exported model and detects on random images for a while; prints the process's peak resident memory.</summary>
    public static void OnnxOnly(string modelPath, int runs)
    {
        using var detector = OnnxDetector.Load(modelPath, new OnnxDetectorOptions(IntraOpThreads: 2));
        var rng = new Random(0);
        var image = new RgbaImage(640, 480, Enumerable.Range(0, 640 * 480 * 4).Select(_ => (byte)rng.Next(256)).ToArray());
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < runs; i++) detector.Detect([image]);
        Console.WriteLine($"{runs} images in {sw.Elapsed.TotalSeconds:F1} s; peak resident memory {PeakResidentMiB():F0} MiB; TorchSharp loaded: {AppDomain.CurrentDomain.GetAssemblies().Any(a => a.GetName().Name == "TorchSharp")}");
    }

    static double PeakResidentMiB()
    {
        var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return line is null ? double.NaN : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0;
    }
}
