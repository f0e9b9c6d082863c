using System.Diagnostics;
using HpfDet.Data;
using HpfDet.Data.Transforms;
using HpfDet.Export;
using HpfDet.Inference;
using HpfDet.Models;
using HpfDet.Models.Backbones;
using HpfDet.Models.Heads;
using HpfDet.Tests.Infrastructure;
using HpfDet.Training;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace HpfDet.Tests.Export;

/// <summary>
/// A small randomly initialised ATSS detector exported to ONNX and run with ONNX Runtime gives
/// libtorch's raw outputs (within 1e-4) and libtorch's detections (same count and labels, boxes within
/// 1e-2 px, scores within 1e-4). BatchNorm statistics, GroupNorm affines and level scales are
/// randomised so that folding and every affine step are exercised.
/// </summary>
[Collection(SequentialCollection.Name)]
public class OnnxParityTests(ITestOutputHelper output)
{
    const double RawTolerance = 1e-4;

    static readonly string[] Classes = ["cat", "dog", "bird"];

    /// <summary>Randomised so that folding, affines and thresholds all matter; seeded.</summary>
    internal static AtssDetector RandomDetector(int seed = 3, InferenceOptions? inference = null)
    {
        torch.manual_seed(seed);
        var backboneOptions = new ResNetOptions(ResNetDepth.R18, FrozenStages: 1, NormEval: true, BlocksPerStage: [1, 1, 1, 1]);
        var model = new AtssDetector(new AtssDetectorOptions(Classes.Length, backboneOptions, FpnChannels: 32, HeadChannels: 32, HeadConvs: 2, HeadGroups: 8,
            Inference: inference ?? new InferenceOptions(ScoreThreshold: 0.3, PreNmsTopK: 40, NmsIoU: 0.5, MaxDetections: 30)));
        using var noGrad = torch.no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            if (name.Contains(".bn") || name.Contains("downsample.1") || name.Contains(".gn."))
            {
                if (name.EndsWith("weight")) p.uniform_(0.5, 1.5); else p.uniform_(-0.2, 0.2);
            }
            else if (name.Contains("scales")) p.uniform_(0.5, 1.5);
            else if (name.Contains("atss_cls.bias")) p.uniform_(-1.5, 0.5);
            else if (name.Contains("atss_reg") || name.Contains("atss_centerness")) p.mul_(5);
        }
        foreach (var (name, b) in model.named_buffers())
        {
            if (name.EndsWith("running_mean")) b.uniform_(-0.3, 0.3);
            else if (name.EndsWith("running_var")) b.uniform_(0.5, 2.0);
        }
        model.eval();
        return model;
    }

    internal static OnnxExportMetadata Metadata(ResizeScale scale, InferenceOptions inference) =>
        new(Classes, ImageNormalization.CaffeBgr, scale.ShortSide, scale.MaxLongSide, inference.ScoreThreshold, inference.PreNmsTopK, inference.NmsIoU, inference.MaxDetections);

    /// <summary>Random-textured PNG files of the given sizes.</summary>
    internal static List<string> WriteImages(string dir, params (int W, int H)[] sizes)
    {
        var rng = new Random(11);
        var paths = new List<string>();
        foreach (var (w, h) in sizes)
        {
            var image = new ImageBuffer(w, h);
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    int p = (y * w + x) * 4;
                    // Smooth blobs plus noise: structure for the convolutions, not a constant image.
                    image.Rgba[p] = (byte)Math.Clamp(128 + 100 * Math.Sin(x / 9.0) + rng.Next(-20, 20), 0, 255);
                    image.Rgba[p + 1] = (byte)Math.Clamp(128 + 100 * Math.Cos(y / 7.0) + rng.Next(-20, 20), 0, 255);
                    image.Rgba[p + 2] = (byte)Math.Clamp(60 + (x + y) % 150 + rng.Next(-20, 20), 0, 255);
                    image.Rgba[p + 3] = 255;
                }
            var path = Path.Combine(dir, $"image{paths.Count + 1}.png");
            File.WriteAllBytes(path, ImageDecoder.EncodePng(image));
            paths.Add(path);
        }
        return paths;
    }

    /// <summary>libtorch's decoded raw outputs: boxes [B, N, 4], sigmoid scores [B, N, C], sigmoid centerness [B, N].</summary>
    static (float[] Boxes, float[] Scores, float[] Factors) LibtorchRaw(AtssDetector model, Tensor images)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var o = model.forward(images);
        long b = images.shape[0];
        int c = model.NumClasses;
        var sizes = o.ClassLogits.Select(t => ((int)t.shape[2], (int)t.shape[3])).ToArray();
        var anchors = torch.cat(model.AnchorGenerator.GridAnchors(sizes, torch.CPU).ToArray(), 0);
        var scores = torch.cat(o.ClassLogits.Select(t => t.permute(0, 2, 3, 1).reshape(b, -1, c)).ToArray(), 1).sigmoid();
        var deltas = torch.cat(o.BoxRegression.Select(t => t.permute(0, 2, 3, 1).reshape(b, -1, 4)).ToArray(), 1);
        var factors = torch.cat(o[AtssHead.CenternessTerm].Select(t => t.permute(0, 2, 3, 1).reshape(b, -1)).ToArray(), 1).sigmoid();
        var boxes = model.BoxCoder.Decode(anchors, deltas);
        return (boxes.contiguous().data<float>().ToArray(), scores.contiguous().data<float>().ToArray(), factors.contiguous().data<float>().ToArray());
    }

    /// <summary>Largest |a − b| / max(1, |b|): boxes are in pixels, where float32 itself resolves ~1e-7 of the value.</summary>
    static double MaxRelDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs((double)a[i] - b[i]) / Math.Max(1.0, Math.Abs((double)b[i])));
        return m;
    }

    static double MaxAbsDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs((double)a[i] - b[i]));
        return m;
    }

    [Fact]
    public void DynamicExportMatchesLibtorchRawOutputsAndDetections()
    {
        var dir = TestPaths.NewTempDir("onnx-parity");
        try
        {
            var scale = new ResizeScale(96, 160);
            var inference = new InferenceOptions(ScoreThreshold: 0.3, PreNmsTopK: 40, NmsIoU: 0.5, MaxDetections: 30);
            using var model = RandomDetector(inference: inference);
            var onnxPath = Path.Combine(dir, "model.onnx");
            OnnxExporter.Save(model, onnxPath, Metadata(scale, inference));

            // Two images of different aspect in one batch: different content sizes, one padded batch.
            var paths = WriteImages(dir, (150, 100), (90, 120));
            var samples = paths.Select((p, i) => { var im = ImageDecoder.Decode(p); return new DetectionSample(i + 1, p, Path.GetFileName(p), im.Width, im.Height, []); }).ToList();
            var dataset = new DetectionDataset("parity", Classes, samples, new DataIssues());
            var loader = new DataLoader(dataset, TransformPipeline.ForEvaluation(scale), ImageNormalization.CaffeBgr, new DataLoaderOptions(2, Workers: 1, Shuffle: false));

            using var detector = OnnxDetector.Load(onnxPath);
            var decoded = paths.Select(p => RgbaImage.Decode(p)).ToList();
            var (input, placements, h, w) = detector.Prepare(decoded);

            // Raw outputs on the same batch: the loader's normalised tensor for libtorch, the RGB batch for ONNX Runtime.
            var batch = loader.Epoch(0).Single();
            Assert.Equal([2L, 3, h, w], batch.Images.shape);
            for (int i = 0; i < 2; i++)
            {
                Assert.Equal(batch.Meta[i].Width, placements[i].Width);
                Assert.Equal(batch.Meta[i].Height, placements[i].Height);
            }
            var (tBoxes, tScores, tFactors) = LibtorchRaw(model, batch.Images);
            var raw = detector.Run(input, 2, h, w);
            double boxDiff = MaxRelDiff(tBoxes, raw.Boxes), boxAbs = MaxAbsDiff(tBoxes, raw.Boxes), boxMax = tBoxes.Max(v => Math.Abs(v)), scoreDiff = MaxAbsDiff(tScores, raw.Scores), factorDiff = MaxAbsDiff(tFactors, raw.ScoreFactors!);
            output.WriteLine($"raw max |diff|: boxes {boxAbs:E2} px (relative {boxDiff:E2}, largest coordinate {boxMax:F0} px), scores {scoreDiff:E2}, centerness {factorDiff:E2} ({raw.Anchors} anchors, input {h}x{w})");
            Assert.True(boxDiff <= RawTolerance, $"boxes differ by {boxDiff} relative to their size");
            Assert.True(scoreDiff <= RawTolerance, $"scores differ by {scoreDiff}");
            Assert.True(factorDiff <= RawTolerance, $"centerness differs by {factorDiff}");
            batch.Dispose();

            // Final detections: libtorch's evaluation path against the inference library, batch of 2.
            var expected = DetectionEvaluation.Predict(model, dataset, loader);
            var actual = detector.Detect(paths);
            int total = 0;
            double worstBox = 0, worstScore = 0;
            for (int i = 0; i < 2; i++)
            {
                var mine = actual[i];
                var theirs = Enumerable.Range(0, expected.Count).Select(j => expected[j]).Where(d => d.ImageId == i + 1).ToList();
                Assert.Equal(theirs.Count, mine.Count);
                Assert.True(mine.Count > 0, "the randomised detector should detect something: the test would compare nothing");
                for (int k = 0; k < mine.Count; k++)
                {
                    Assert.Equal(theirs[k].CategoryId, dataset.CategoryIdOf(mine[k].Label));
                    double[] a = [mine[k].X1, mine[k].Y1, mine[k].X2 - (double)mine[k].X1, mine[k].Y2 - (double)mine[k].Y1];
                    double[] e = [theirs[k].X, theirs[k].Y, theirs[k].W, theirs[k].H];
                    for (int j = 0; j < 4; j++) worstBox = Math.Max(worstBox, Math.Abs(a[j] - e[j]));
                    worstScore = Math.Max(worstScore, Math.Abs(mine[k].Score - theirs[k].Score));
                }
                total += mine.Count;
            }
            output.WriteLine($"detections: {total}, max |diff| boxes {worstBox:E2} px, scores {worstScore:E2}");
            Assert.True(worstBox <= 1e-2, $"boxes differ by {worstBox} px");
            Assert.True(worstScore <= 1e-4, $"scores differ by {worstScore}");

            // One image alone (its own padding) and the batch agree with libtorch on that image alone too.
            var single = detector.Detect(paths[1]);
            Assert.NotEmpty(single);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void FixedSizeExportAtOpset13MatchesLibtorchRawOutputs()
    {
        var inference = new InferenceOptions(ScoreThreshold: 0.3, PreNmsTopK: 40, NmsIoU: 0.5, MaxDetections: 30);
        using var model = RandomDetector(seed: 5, inference: inference);
        var dir = TestPaths.NewTempDir("onnx-fixed");
        try
        {
            var onnxPath = Path.Combine(dir, "fixed.onnx");
            OnnxExporter.Save(model, onnxPath, Metadata(new ResizeScale(96, 160), inference), new OnnxExportOptions(Opset: 13, ImageSize: (100, 140)));   // the lowest opset accepted
            using var detector = OnnxDetector.Load(onnxPath);
            Assert.Equal((100, 140), detector.Info.FixedInputSize);
            var rng = new Random(5);
            var rgb = Enumerable.Range(0, 3 * 100 * 140).Select(_ => (float)rng.Next(0, 256)).ToArray();
            var raw = detector.Run(rgb, 1, 100, 140);
            // The training normalisation by hand: BGR, minus the Caffe means.
            using var scope = torch.NewDisposeScope();
            var mean = ImageNormalization.CaffeBgr.Mean;
            var bgr = torch.tensor(rgb, [1, 3, 100, 140]).index_select(1, torch.tensor(new long[] { 2, 1, 0 }));
            var normalised = bgr - torch.tensor(mean).reshape(1, 3, 1, 1);
            var (tBoxes, tScores, tFactors) = LibtorchRaw(model, normalised);
            double boxDiff = MaxRelDiff(tBoxes, raw.Boxes), boxAbs = MaxAbsDiff(tBoxes, raw.Boxes), boxMax = tBoxes.Max(v => Math.Abs(v)), scoreDiff = MaxAbsDiff(tScores, raw.Scores), factorDiff = MaxAbsDiff(tFactors, raw.ScoreFactors!);
            output.WriteLine($"fixed 100x140 raw max |diff|: boxes {boxAbs:E2} px (relative {boxDiff:E2}, largest coordinate {boxMax:F0} px), scores {scoreDiff:E2}, centerness {factorDiff:E2}");
            Assert.True(boxDiff <= RawTolerance, $"boxes differ by {boxDiff} relative to their size");
            Assert.True(scoreDiff <= RawTolerance, $"scores differ by {scoreDiff}");
            Assert.True(factorDiff <= RawTolerance, $"centerness differs by {factorDiff}");
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>onnx.checker with full shape inference, in Debian's python3-onnx; skipped (reported) when it is not installed.</summary>
    [SkippableFact]
    public void ExportedModelPassesTheOnnxChecker()
    {
        var python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
        var probe = RunProcess(python, "-c \"import onnx\"");
        Skip.If(probe.ExitCode != 0, $"python3-onnx is not installed ({python} cannot import onnx): apt-get install python3-onnx to run the ONNX checker.");
        var inference = new InferenceOptions();
        using var model = RandomDetector(inference: inference);
        var dir = TestPaths.NewTempDir("onnx-checker");
        try
        {
            foreach (var (name, options) in new[] { ("dynamic.onnx", new OnnxExportOptions()), ("fixed.onnx", new OnnxExportOptions(ImageSize: (96, 128))) })
            {
                var path = Path.Combine(dir, name);
                OnnxExporter.Save(model, path, Metadata(new ResizeScale(96, 160), inference), options);
                var script = $"import onnx; m = onnx.load(r'{path}'); onnx.checker.check_model(m, full_check=True); print('ok', m.opset_import[0].version)";
                var r = RunProcess(python, $"-c \"{script}\"");
                output.WriteLine($"{name}: {r.Output.Trim()}");
                Assert.True(r.ExitCode == 0, $"onnx.checker rejected {name}: {r.Output}");
                Assert.Contains("ok 17", r.Output);
            }
        }
        finally { Directory.Delete(dir, true); }
    }

    static (int ExitCode, string Output) RunProcess(string file, string args)
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false })!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode, stdout.Result + stderr);
        }
        catch (System.ComponentModel.Win32Exception e) { return (-1, e.Message); }
    }
}
