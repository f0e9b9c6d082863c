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
/// A small randomly initialised detector of each exportable family (ATSS; RetinaNet with its plain head
/// and with the GroupNorm head; FCOS) exported to ONNX and run with ONNX Runtime gives libtorch's raw
/// outputs (within 1e-4) and libtorch's detections (same count and labels, boxes within 1e-2 px,
/// scores within 1e-4). BatchNorm statistics, GroupNorm affines, biases and level scales are
/// randomised so that folding and every affine step are exercised.
/// </summary>
[Collection(SequentialCollection.Name)]
public class OnnxParityTests(ITestOutputHelper output)
{
    const double RawTolerance = 1e-4;

    static readonly string[] Classes = ["cat", "dog", "bird"];

    /// <summary>The exportable detector variants the parity tests run on.</summary>
    public static TheoryData<string> Families => ["atss", "retinanet", "retinanet-gn", "fcos"];

    /// <summary>A randomised ATSS detector (see <see cref="RandomDetector(string, int, InferenceOptions?)"/>).</summary>
    internal static AtssDetector RandomDetector(int seed = 3, InferenceOptions? inference = null) => (AtssDetector)RandomDetector("atss", seed, inference);

    /// <summary>
    /// Randomised so that folding, affines and thresholds all matter; seeded. <paramref name="family"/> is
    /// atss, retinanet (torchvision's head without normalisation), retinanet-gn (GroupNorm head) or fcos.
    /// </summary>
    internal static DenseDetector RandomDetector(string family, int seed = 3, InferenceOptions? inference = null)
    {
        using var initGenerator = new torch.Generator((ulong)seed);
        using var initScope = InitGenerator.Use(initGenerator);
        var backboneOptions = new ResNetOptions(ResNetDepth.R18, FrozenStages: 1, NormEval: true, BlocksPerStage: [1, 1, 1, 1]);
        inference ??= new InferenceOptions(ScoreThreshold: 0.3, PreNmsTopK: 40, NmsIoU: 0.5, MaxDetections: 30);
        DenseDetector model = family switch
        {
            "atss" => new AtssDetector(new AtssDetectorOptions(Classes.Length, backboneOptions, FpnChannels: 32, HeadChannels: 32, HeadConvs: 2, HeadGroups: 8, Inference: inference)),
            "retinanet" => new RetinaNetDetector(new RetinaNetDetectorOptions(Classes.Length, backboneOptions, FpnChannels: 32, HeadConvs: 2, Inference: inference)),
            "retinanet-gn" => new RetinaNetDetector(new RetinaNetDetectorOptions(Classes.Length, backboneOptions, FpnChannels: 32, HeadConvs: 2, HeadGroups: 8, Inference: inference)),
            "fcos" => new FcosDetector(new FcosDetectorOptions(Classes.Length, backboneOptions, FpnChannels: 32, HeadChannels: 32, HeadConvs: 2, HeadGroups: 8, Inference: inference)),
            _ => throw new ArgumentException($"No test detector '{family}'.", nameof(family)),
        };
        using var noGrad = torch.no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            if (family == "atss")
            {
                if (name.Contains(".bn") || name.Contains("downsample.1") || name.Contains(".gn."))
                {
                    if (name.EndsWith("weight")) p.uniform_(0.5, 1.5, initGenerator); else p.uniform_(-0.2, 0.2, initGenerator);
                }
                else if (name.Contains("scales")) p.uniform_(0.5, 1.5, initGenerator);
                else if (name.Contains("atss_cls.bias")) p.uniform_(-1.5, 0.5, initGenerator);
                else if (name.Contains("atss_reg") || name.Contains("atss_centerness")) p.mul_(5);
                continue;
            }
            bool head = name.StartsWith("head.", StringComparison.Ordinal);
            if (name.Contains(".bn") || name.Contains("downsample.1"))
            {
                if (name.EndsWith("weight")) p.uniform_(0.5, 1.5, initGenerator); else p.uniform_(-0.2, 0.2, initGenerator);
            }
            else if (head && name.EndsWith("cls_logits.bias")) p.uniform_(-1.5, 0.5, initGenerator);
            // Head convolutions at a scale that keeps the features' spread (He), so that scores vary
            // across locations instead of sitting at the prior (near-ties would make the ranking fragile).
            else if (head && p.dim() == 4) p.normal_(0, Math.Sqrt(2.0 / (p.shape[1] * p.shape[2] * p.shape[3])), initGenerator);
            else if (head && p.dim() == 1 && name.EndsWith("weight")) p.uniform_(0.5, 1.5, initGenerator);       // GroupNorm scales
            else if (head && p.dim() == 1) p.uniform_(-0.2, 0.2, initGenerator);                                 // conv and GroupNorm biases
        }
        foreach (var (name, b) in model.named_buffers())
        {
            if (name.EndsWith("running_mean")) b.uniform_(-0.3, 0.3, initGenerator);
            else if (name.EndsWith("running_var")) b.uniform_(0.5, 2.0, initGenerator);
        }
        model.eval();
        if (model is RetinaNetDetector) CalibratePredictors(model, "head.classification_head.cls_logits", 1.5, "head.regression_head.bbox_reg", 0.3);
        return model;
    }

    /// <summary>
    /// Scales the class and box predictors so that, on a fixed random input, the logits spread by about
    /// <paramref name="logitStd"/> and the box deltas by about <paramref name="deltaStd"/>, as a trained
    /// detector's do. Without it the plain RetinaNet head (no normalisation) passes the FPN's scale on:
    /// logits in the hundreds, deltas at the clamp and boxes of 30000 px, which test nothing real.
    /// </summary>
    static void CalibratePredictors(DenseDetector model, string classifier, double logitStd, string regressor, double deltaStd)
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator(1);
        using var noGrad = torch.no_grad();
        using var pixelSpread = 50.ToScalar();
        var o = model.forward(torch.randn(1, 3, 128, 160, generator: generator).mul(pixelSpread));
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        using var logitScale = (logitStd / DenseHeadOutputs.Flatten(o.ClassLogits, model.NumClasses).std().item<float>()).ToScalar();
        using var deltaScale = (deltaStd / DenseHeadOutputs.Flatten(o.BoxRegression, 4).std().item<float>()).ToScalar();
        parameters[classifier + ".weight"].mul_(logitScale);
        parameters[regressor + ".weight"].mul_(deltaScale);
        parameters[regressor + ".bias"].mul_(deltaScale);
    }

    /// <summary>How each family's score factor combines with its scores, as the metadata must say.</summary>
    static ScoreFactorUse ExpectedScoreFactor(string family) => family switch
    {
        "atss" => ScoreFactorUse.Multiply,
        "fcos" => ScoreFactorUse.GeometricMean,
        _ => ScoreFactorUse.None,
    };

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

    /// <summary>
    /// libtorch's decoded raw outputs: boxes [B, N, 4] (the detector's own priors and box coder), sigmoid
    /// scores [B, N, C], sigmoid centerness [B, N] for the detectors that have it (else null).
    /// </summary>
    static (float[] Boxes, float[] Scores, float[]? Factors) LibtorchRaw(DenseDetector model, Tensor images)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var o = model.forward(images);
        long b = images.shape[0];
        var sizes = o.ClassLogits.Select(t => ((int)t.shape[2], (int)t.shape[3])).ToArray();
        var priors = model.Priors(sizes, torch.CPU).All;
        var scores = DenseHeadOutputs.Flatten(o.ClassLogits, model.NumClasses).sigmoid();
        var regression = DenseHeadOutputs.Flatten(o.BoxRegression, 4);
        var boxes = model.DecodeBoxes(priors, regression);
        float[]? factors = o.Extra.TryGetValue(AtssHead.CenternessTerm, out var centerness)
            ? DenseHeadOutputs.Flatten(centerness, 1).reshape(b, -1).sigmoid().contiguous().data<float>().ToArray() : null;
        return (boxes.contiguous().data<float>().ToArray(), scores.contiguous().data<float>().ToArray(), factors);
    }

    void AssertRawParity(string what, (float[] Boxes, float[] Scores, float[]? Factors) expected, OnnxRawOutputs raw, bool hasFactor)
    {
        var (tBoxes, tScores, tFactors) = expected;
        Assert.Equal(hasFactor, tFactors is not null);
        Assert.Equal(hasFactor, raw.ScoreFactors is not null);
        double boxDiff = MaxRelDiff(tBoxes, raw.Boxes), boxAbs = MaxAbsDiff(tBoxes, raw.Boxes), boxMax = tBoxes.Max(v => Math.Abs(v)), scoreDiff = MaxAbsDiff(tScores, raw.Scores);
        double factorDiff = hasFactor ? MaxAbsDiff(tFactors!, raw.ScoreFactors!) : 0;
        output.WriteLine($"{what} raw max |diff|: boxes {boxAbs:E2} px (relative {boxDiff:E2}, largest coordinate {boxMax:F0} px), scores {scoreDiff:E2}" +
            (hasFactor ? $", centerness {factorDiff:E2}" : ", no score factor") + $" ({raw.Anchors} priors)");
        Assert.True(boxDiff <= RawTolerance, $"boxes differ by {boxDiff} relative to their size");
        Assert.True(scoreDiff <= RawTolerance, $"scores differ by {scoreDiff}");
        Assert.True(factorDiff <= RawTolerance, $"centerness differs by {factorDiff}");
    }

    /// <summary>
    /// Largest |a − b| / max(1, largest |coordinate| of that box in b) over boxes [.., 4]: float32 resolves
    /// ~1e-7 of a corner's operands (centre ± half the size), so a corner's error scales with its box's
    /// size, not with the corner itself (a 2000 px box may have a corner near 0).
    /// </summary>
    static double MaxRelDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double m = 0;
        for (int i = 0; i < a.Length; i += 4)
        {
            double scale = 1.0;
            for (int k = 0; k < 4; k++) scale = Math.Max(scale, Math.Abs((double)b[i + k]));
            for (int k = 0; k < 4; k++) m = Math.Max(m, Math.Abs((double)a[i + k] - b[i + k]) / scale);
        }
        return m;
    }

    static double MaxAbsDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs((double)a[i] - b[i]));
        return m;
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void DynamicExportMatchesLibtorchRawOutputsAndDetections(string family)
    {
        using var dir = TestPaths.NewTempDir("onnx-parity");
        var scale = new ResizeScale(96, 160);
        var inference = new InferenceOptions(ScoreThreshold: 0.3, PreNmsTopK: 40, NmsIoU: 0.5, MaxDetections: 30);
        using var model = RandomDetector(family, inference: inference);
        var onnxPath = Path.Combine(dir, "model.onnx");
        OnnxExporter.Save(model, onnxPath, Metadata(scale, inference));

        // Two images of different aspect in one batch: different content sizes, one padded batch.
        var paths = WriteImages(dir, (150, 100), (90, 120));
        var samples = paths.Select((p, i) => { var im = ImageDecoder.Decode(p); return new DetectionSample(i + 1, p, Path.GetFileName(p), im.Width, im.Height, []); }).ToList();
        var dataset = new DetectionDataset("parity", Classes, samples, new DataIssues());
        var loader = new DataLoader(dataset, TransformPipeline.ForEvaluation(scale), ImageNormalization.CaffeBgr, new DataLoaderOptions(2, Workers: 1, Shuffle: false));

        using var detector = OnnxDetector.Load(onnxPath);
        Assert.Equal(model.Family, detector.Info.Detector);
        Assert.Equal(ExpectedScoreFactor(family), detector.Info.ScoreFactor);
        Assert.Equal(model.PriorsPerLocation, detector.Info.AnchorsPerLocation);
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
        var raw = detector.Run(input, 2, h, w);
        AssertRawParity($"{family} {h}x{w}", LibtorchRaw(model, batch.Images), raw, ExpectedScoreFactor(family) != ScoreFactorUse.None);
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
        output.WriteLine($"{family} detections: {total}, max |diff| boxes {worstBox:E2} px, scores {worstScore:E2}");
        Assert.True(worstBox <= 1e-2, $"boxes differ by {worstBox} px");
        Assert.True(worstScore <= 1e-4, $"scores differ by {worstScore}");

        // One image alone (its own padding) and the batch agree with libtorch on that image alone too.
        var single = detector.Detect(paths[1]);
        Assert.NotEmpty(single);
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void FixedSizeExportAtOpset13MatchesLibtorchRawOutputs(string family)
    {
        var inference = new InferenceOptions(ScoreThreshold: 0.3, PreNmsTopK: 40, NmsIoU: 0.5, MaxDetections: 30);
        using var model = RandomDetector(family, seed: 5, inference: inference);
        using var dir = TestPaths.NewTempDir("onnx-fixed");
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
        AssertRawParity($"{family} fixed 100x140", LibtorchRaw(model, normalised), raw, ExpectedScoreFactor(family) != ScoreFactorUse.None);
    }

    /// <summary>onnx.checker with full shape inference, in Debian's python3-onnx; skipped (reported) when it is not installed.</summary>
    [SkippableTheory]
    [MemberData(nameof(Families))]
    public void ExportedModelPassesTheOnnxChecker(string family)
    {
        var python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
        var probe = RunProcess(python, "-c \"import onnx\"");
        Skip.If(probe.ExitCode != 0, $"python3-onnx is not installed ({python} cannot import onnx): apt-get install python3-onnx to run the ONNX checker.");
        var inference = new InferenceOptions();
        using var model = RandomDetector(family, inference: inference);
        using var dir = TestPaths.NewTempDir("onnx-checker");
        foreach (var (name, options) in new[] { ("dynamic.onnx", new OnnxExportOptions()), ("fixed.onnx", new OnnxExportOptions(ImageSize: (96, 128))) })
        {
            var path = Path.Combine(dir, name);
            OnnxExporter.Save(model, path, Metadata(new ResizeScale(96, 160), inference), options);
            var script = $"import onnx; m = onnx.load(r'{path}'); onnx.checker.check_model(m, full_check=True); print('ok', m.opset_import[0].version)";
            var r = RunProcess(python, $"-c \"{script}\"");
            output.WriteLine($"{family} {name}: {r.Output.Trim()}");
            Assert.True(r.ExitCode == 0, $"onnx.checker rejected {name}: {r.Output}");
            Assert.Contains("ok 17", r.Output);
        }
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
