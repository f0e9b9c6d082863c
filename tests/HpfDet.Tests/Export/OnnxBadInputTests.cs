using System.Reflection;
using System.Text.Json;
using Google.Protobuf;
using HpfDet.Data.Transforms;
using HpfDet.Export;
using HpfDet.Inference;
using HpfDet.Models;
using HpfDet.Tests.Infrastructure;
using Onnx;
using TorchSharp;

namespace HpfDet.Tests.Export;

/// <summary>Clear errors for what cannot be exported or loaded, and the inference library's dependency closure.</summary>
[Collection(SequentialCollection.Name)]
public class OnnxBadInputTests
{
    static string ExportTiny(string dir, string name = "model.onnx")
    {
        var inference = new InferenceOptions();
        using var model = OnnxParityTests.RandomDetector(inference: inference);
        var path = Path.Combine(dir, name);
        OnnxExporter.Save(model, path, OnnxParityTests.Metadata(new ResizeScale(64, 96), inference));
        return path;
    }

    [Fact]
    public void ACorruptOnnxFileIsAClearError()
    {
        using var dir = TestPaths.NewTempDir("onnx-bad");
        var path = Path.Combine(dir, "corrupt.onnx");
        var good = File.ReadAllBytes(ExportTiny(dir));
        File.WriteAllBytes(path, good.Take(good.Length / 3).ToArray());   // truncated
        var e = Assert.Throws<OnnxDetectorException>(() => OnnxDetector.Load(path));
        Assert.Contains("is not a valid ONNX model", e.Message);
        Assert.Contains(path, e.Message);
        File.WriteAllBytes(path, "not a model at all"u8.ToArray());
        Assert.Contains("is not a valid ONNX model", Assert.Throws<OnnxDetectorException>(() => OnnxDetector.Load(path)).Message);
    }

    [Fact]
    public void AnOnnxModelWithoutHpfDetMetadataIsAClearError()
    {
        using var dir = TestPaths.NewTempDir("onnx-bad");
        // A valid model HpfDet did not write: one Identity node, no metadata.
        var g = new OnnxGraphBuilder(17);
        g.Input("images", TensorProto.Types.DataType.Float, "batch", 3L, "height", "width");
        g.Output("boxes", "images", TensorProto.Types.DataType.Float, "batch", 3L, "height", "width");
        var model = new ModelProto { IrVersion = 8, Graph = g.Graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        var path = Path.Combine(dir, "foreign.onnx");
        File.WriteAllBytes(path, model.ToByteArray());
        var e = Assert.Throws<OnnxDetectorException>(() => OnnxDetector.Load(path));
        Assert.Contains("without HpfDet metadata", e.Message);
        Assert.Contains("hpfdet export", e.Message);
    }

    [Fact]
    public void AModelOfAnUnknownDetectorIsAClearError()
    {
        using var dir = TestPaths.NewTempDir("onnx-bad");
        var path = ExportTiny(dir);
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        model.MetadataProps.Single(p => p.Key == "hpfdet.detector").Value = "yolo9000";
        File.WriteAllBytes(path, model.ToByteArray());
        var e = Assert.Throws<OnnxDetectorException>(() => OnnxDetector.Load(path));
        Assert.Contains("'yolo9000' detector", e.Message);
    }

    /// <summary>
    /// "hpfdet.score_factor" says how score factors combine with scores: a model written before the entry
    /// existed (ATSS) multiplies; an unknown rule, or a rule that needs a factor the graph lacks, is a clear error.
    /// </summary>
    [Fact]
    public void TheScoreFactorRuleIsReadFromTheMetadata()
    {
        using var dir = TestPaths.NewTempDir("onnx-bad");
        var path = ExportTiny(dir);
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        var entry = model.MetadataProps.Single(p => p.Key == "hpfdet.score_factor");
        Assert.Equal("multiply", entry.Value);
        using (var detector = OnnxDetector.Load(path)) Assert.Equal(ScoreFactorUse.Multiply, detector.Info.ScoreFactor);

        model.MetadataProps.Remove(entry);
        var older = Path.Combine(dir, "older.onnx");
        File.WriteAllBytes(older, model.ToByteArray());
        using (var detector = OnnxDetector.Load(older)) Assert.Equal(ScoreFactorUse.Multiply, detector.Info.ScoreFactor);

        model.MetadataProps.Add(new StringStringEntryProto { Key = "hpfdet.score_factor", Value = "cube_root" });
        File.WriteAllBytes(older, model.ToByteArray());
        var e = Assert.Throws<OnnxDetectorException>(() => OnnxDetector.Load(older));
        Assert.Contains("'hpfdet.score_factor' = 'cube_root'", e.Message);

        var inference = new InferenceOptions();
        using var retinaNet = OnnxParityTests.RandomDetector("retinanet", inference: inference);
        var retinaPath = Path.Combine(dir, "retinanet.onnx");
        OnnxExporter.Save(retinaNet, retinaPath, OnnxParityTests.Metadata(new ResizeScale(64, 96), inference));
        var retina = ModelProto.Parser.ParseFrom(File.ReadAllBytes(retinaPath));
        Assert.DoesNotContain(retina.Graph.Output, o => o.Name == OnnxExporter.ScoreFactorsName);
        var rule = retina.MetadataProps.Single(p => p.Key == "hpfdet.score_factor");
        Assert.Equal("none", rule.Value);
        rule.Value = "geometric_mean";
        File.WriteAllBytes(retinaPath, retina.ToByteArray());
        Assert.Contains("has no 'score_factors' output", Assert.Throws<OnnxDetectorException>(() => OnnxDetector.Load(retinaPath)).Message);
    }

    [Fact]
    public void AnUndecodableImageIsAClearError()
    {
        using var dir = TestPaths.NewTempDir("onnx-bad");
        using var detector = OnnxDetector.Load(ExportTiny(dir));
        var image = Path.Combine(dir, "broken.jpg");
        File.WriteAllBytes(image, "JFIF? no"u8.ToArray());
        var e = Assert.Throws<OnnxDetectorException>(() => detector.Detect(image));
        Assert.Contains("broken.jpg", e.Message);
        Assert.Contains("not a decodable image", e.Message);
    }

    [Fact]
    public void MetadataCarriesWhatInferenceNeeds()
    {
        using var dir = TestPaths.NewTempDir("onnx-meta");
        using var detector = OnnxDetector.Load(ExportTiny(dir));
        var info = detector.Info;
        Assert.Equal("atss", info.Detector);
        Assert.Equal(["cat", "dog", "bird"], info.ClassNames);
        Assert.Null(info.FixedInputSize);
        Assert.Equal((64, 96), (info.ResizeShortSide, info.ResizeMaxLongSide));
        Assert.Equal([8, 16, 32, 64, 128], info.Strides);
        Assert.Equal(0.05, info.ScoreThreshold);
        Assert.Equal(0.6, info.NmsIoU);
        // Caffe BGR means (103.06, 115.90, 123.15) given per BGR channel: padding in RGB is their reverse.
        Assert.Equal([123.15f, 115.90f, 103.06f], info.PadValueRgb);
    }

    [Fact]
    public void AnExecutionProviderMissingFromThePackageIsAClearError()
    {
        using var dir = TestPaths.NewTempDir("onnx-ep");
        // This package (Microsoft.ML.OnnxRuntime) is the CPU build: CUDA is not in it.
        var e = Assert.Throws<OnnxDetectorException>(() => OnnxDetector.Load(ExportTiny(dir), new OnnxDetectorOptions(ExecutionProvider.Cuda)));
        Assert.Contains("Cuda execution provider is not available", e.Message);
    }

    /// <summary>One loaded model, eight threads detecting at once: each gets what a lone call gives.</summary>
    [Fact]
    public void ConcurrentCallsOnOneModelGiveTheSequentialResults()
    {
        using var dir = TestPaths.NewTempDir("onnx-threads");
        var inference = new InferenceOptions(ScoreThreshold: 0.3, PreNmsTopK: 40, NmsIoU: 0.5, MaxDetections: 30);
        using var model = OnnxParityTests.RandomDetector(inference: inference);
        var path = Path.Combine(dir, "model.onnx");
        OnnxExporter.Save(model, path, OnnxParityTests.Metadata(new ResizeScale(64, 96), inference));
        var images = OnnxParityTests.WriteImages(dir, (90, 60), (60, 80), (70, 70), (100, 50));
        using var detector = OnnxDetector.Load(path);
        var sequential = images.Select(detector.Detect).ToList();
        Assert.Contains(sequential, d => d.Count > 0);
        var concurrent = new IReadOnlyList<Detection>[16];
        Parallel.For(0, concurrent.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i => concurrent[i] = detector.Detect(images[i % images.Count]));
        for (int i = 0; i < concurrent.Length; i++)
            Assert.Equal(sequential[i % images.Count], concurrent[i]);
    }

    sealed class Unexportable : torch.nn.Module<torch.Tensor, torch.Tensor>
    {
        public Unexportable() : base("Unexportable") { }
        public override torch.Tensor forward(torch.Tensor x) => x;
    }

    /// <summary>A dense detector type without an ONNX exporter, as a newly added family is until it gets one.</summary>
    sealed class UnexportableDense(DenseDetectorParts parts) : DenseDetector("unexportable", parts)
    {
        public override string Family => "unexportable";
        protected override IReadOnlyList<torch.Tensor> GeneratePriors(IReadOnlyList<(int H, int W)> featureSizes, torch.Device device) => throw new NotSupportedException();
        protected override PriorAssignment Assign(PriorSet priors, DetectionTarget target, torch.Tensor? valid) => throw new NotSupportedException();
        protected override IEnumerable<LossTerm> RegressionLosses(TrainingBatch batch) => throw new NotSupportedException();
        public override torch.Tensor DecodeBoxes(torch.Tensor priors, torch.Tensor regression) => throw new NotSupportedException();
    }

    [Fact]
    public void AnUnknownDetectorOrModuleTypeIsNamedInTheError()
    {
        using var unknown = new Unexportable();
        var meta = OnnxParityTests.Metadata(new ResizeScale(64, 96), new InferenceOptions());
        var e = Assert.Throws<HpfDetException>(() => OnnxExporter.Build(unknown, meta));
        Assert.Contains("Unexportable is not exportable yet", e.Message);
        Assert.Contains("AtssDetector", e.Message);

        var ctx = new OnnxExportContext(new OnnxGraphBuilder(17), OnnxModuleExporters.Default);
        using var linear = torch.nn.Linear(3, 4);
        var m = Assert.Throws<HpfDetException>(() => ctx.Export(linear, "neck.extra", "x"));
        Assert.Contains("'neck.extra' is a Linear", m.Message);

        // A dense detector without an exporter fails naming its family and type.
        using (var resnet = new HpfDet.Models.Backbones.ResNet(new HpfDet.Models.Backbones.ResNetOptions(BlocksPerStage: [1, 1, 1, 1])))
        using (var dense = new UnexportableDense(new DenseDetectorParts(3, resnet, new HpfDet.Models.Necks.Fpn(new HpfDet.Models.Necks.FpnOptions(resnet.OutChannels, 16, NumOutputs: 5)),
            new HpfDet.Models.Heads.RetinaNetHead(new HpfDet.Models.Heads.RetinaNetHeadOptions(3, 16, 1)), 9, new HpfDet.Losses.SigmoidFocalLoss(), new InferenceOptions())))
        {
            var d = Assert.Throws<HpfDetException>(() => OnnxExporter.Build(dense, meta));
            Assert.Contains("'unexportable' (UnexportableDense) is not exportable yet", d.Message);
            Assert.Contains("RetinaNetDetector", d.Message);
        }

        // Every registered detector is exportable or fails naming itself.
        foreach (var family in DetectorRegistry.Families)
        {
            using var backbone = new HpfDet.Models.Backbones.ResNet(new HpfDet.Models.Backbones.ResNetOptions(BlocksPerStage: [1, 1, 1, 1]));
            using var other = family.Build(new DetectorBuildOptions(3, backbone, new HpfDet.Losses.SigmoidFocalLoss(), FpnChannels: 16, HeadChannels: 16, HeadConvs: 1, HeadGroups: 8));
            if (OnnxExporter.Detectors.ContainsKey(other.GetType()))
            {
                var model = OnnxExporter.Build(other, meta);
                Assert.Equal(family.Name, model.MetadataProps.Single(p => p.Key == "hpfdet.detector").Value);
                continue;
            }
            var notYet = Assert.Throws<HpfDetException>(() => OnnxExporter.Build(other, meta));
            Assert.Contains($"'{family.Name}'", notYet.Message);
            Assert.Contains("not exportable yet", notYet.Message);
        }

        Assert.Contains("opset 9", Assert.Throws<HpfDetException>(() => OnnxExporter.Build(unknown, meta, new OnnxExportOptions(Opset: 9))).Message);
    }

    /// <summary>
    /// The inference library's closure holds no TorchSharp, libtorch or HpfDet library: neither in the
    /// restored package graph (project.assets.json) nor in the assemblies it references.
    /// </summary>
    [Fact]
    public void TheInferenceLibraryDependsOnOnnxRuntimeAndSkiaSharpOnly()
    {
        var assets = Path.Combine(TestPaths.RepoRoot, "src", "HpfDet.Inference", "obj", "project.assets.json");
        Assert.True(File.Exists(assets), $"{assets} missing: restore the solution first");
        using var doc = JsonDocument.Parse(File.ReadAllText(assets));
        var libraries = doc.RootElement.GetProperty("libraries").EnumerateObject().Select(p => p.Name.Split('/')[0]).ToList();
        Assert.NotEmpty(libraries);
        Assert.Contains("Microsoft.ML.OnnxRuntime", libraries);
        Assert.Contains("SkiaSharp", libraries);
        Assert.DoesNotContain(libraries, l => l.Contains("Torch", StringComparison.OrdinalIgnoreCase) || l.Contains("libtorch", StringComparison.OrdinalIgnoreCase)
            || l.Equals("HpfDet", StringComparison.OrdinalIgnoreCase));
        var allowed = new[] { "Microsoft.ML.OnnxRuntime", "SkiaSharp" };
        Assert.All(libraries, l => Assert.True(allowed.Any(a => l.StartsWith(a, StringComparison.OrdinalIgnoreCase)) || l.StartsWith("System.", StringComparison.Ordinal) || l.StartsWith("Microsoft.NETCore", StringComparison.Ordinal),
            $"unexpected package '{l}' in HpfDet.Inference's closure"));

        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var queue = new Queue<AssemblyName>([typeof(OnnxDetector).Assembly.GetName()]);
        while (queue.Count > 0)
        {
            var name = queue.Dequeue();
            if (!seen.Add(name.Name!)) continue;
            Assert.False(name.Name!.StartsWith("TorchSharp", StringComparison.OrdinalIgnoreCase) || name.Name == "HpfDet", $"HpfDet.Inference reaches {name.Name}");
            if (name.Name!.StartsWith("System", StringComparison.Ordinal) || name.Name == "netstandard" || name.Name == "mscorlib") continue;
            foreach (var r in Assembly.Load(name).GetReferencedAssemblies()) queue.Enqueue(r);
        }
        Assert.Contains("Microsoft.ML.OnnxRuntime", seen);
        Assert.Contains("SkiaSharp", seen);
    }
}
