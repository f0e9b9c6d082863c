using HpfDet.Data.Transforms;
using HpfDet.Export;
using HpfDet.Losses;
using HpfDet.Models;
using HpfDet.Models.Backbones;
using HpfDet.Models.Heads;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HpfDet.Tests.Detectors;

/// <summary>A small YOLOF for tests: the encoder and head at 64 channels (middle 16), YOLOF's conv counts; every initial weight drawn from a generator seeded with the fixture's seed.</summary>
public static class YolofFixtures
{
    public static YolofDetector TinyYolof(int numClasses, IClassificationLoss? loss = null, bool pretrained = false, int seed = 0, int encoderChannels = 64, int encoderMidChannels = 16)
    {
        using var generator = new torch.Generator((ulong)seed);
        using var scoped = InitGenerator.Use(generator);
        var backboneOptions = DetectorFixtures.TinyBackboneOptions(pretrained);
        var backbone = DetectorFixtures.TinyBackbone(backboneOptions, pretrained);
        return new YolofDetector(new YolofDetectorOptions(numClasses, backboneOptions, EncoderChannels: encoderChannels, EncoderMidChannels: encoderMidChannels), loss, backbone);
    }
}

public class YolofDetectorTests
{
    static DetectionTarget Target(params (float X1, float Y1, float X2, float Y2, long Label)[] boxes) => new(
        torch.tensor(boxes.SelectMany(b => new[] { b.X1, b.Y1, b.X2, b.Y2 }).ToArray()).reshape(boxes.Length, 4),
        torch.tensor(boxes.Select(b => b.Label).ToArray()));

    [Fact]
    public void EveryClassificationLossGivesPositivesAndFiniteLossesAndHpfSeesOneLevel()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator(1);
        foreach (IClassificationLoss loss in new IClassificationLoss[] { new SigmoidFocalLoss(), new HierarchicalProgressiveFocalLoss(), new QualityFocalLoss(), new VarifocalLoss() })
        {
            var model = YolofFixtures.TinyYolof(numClasses: 3, loss);
            model.train();
            var targets = new[] { Target((10, 12, 50, 60, 2), (70, 20, 120, 90, 0)), Target((0, 0, 64, 64, 1)) };
            var losses = model.ComputeLosses(torch.randn(2, 3, 128, 128, generator: generator), targets);
            Assert.Equal(["classification", "box"], losses.Names.ToArray());
            Assert.True(losses.NumPositives.item<float>() >= 2, $"{loss.Name}: {losses.NumPositives.item<float>()} positives");
            foreach (var v in losses.Terms.Select(t => t.Value))
                Assert.True(float.IsFinite(v.item<float>()) && v.item<float>() > 0, $"{loss.Name}: {v.item<float>()}");
            losses.Total.backward();
            var grad = model.Head.parameters().First().grad;
            Assert.NotNull(grad);
            Assert.True(grad!.isfinite().all().item<bool>());
            if (loss is HierarchicalProgressiveFocalLoss hpf)
            {
                // One level: HPF is progressive focus with one γ, from the positives of the only level.
                var stats = hpf.LastStatistics!;
                Assert.Equal(1, stats.Gamma.shape[0]);
                Assert.Equal(losses.NumPositives.item<float>(), (float)stats.Positives.data<double>()[0]);
            }
        }
    }

    [Fact]
    public void AnImageWithoutObjectsGivesAZeroBoxLossWithAGraph()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator(2);
        var model = YolofFixtures.TinyYolof(numClasses: 2);
        model.train();
        var empty = new DetectionTarget(torch.zeros(0, 4), torch.zeros(0, dtype: ScalarType.Int64));
        var losses = model.ComputeLosses(torch.randn(1, 3, 64, 64, generator: generator), [empty]);
        Assert.Equal(0f, losses.Terms.Single(t => t.Name == "box").Value.item<float>());
        Assert.True(float.IsFinite(losses.Total.item<float>()));
        losses.Total.backward();
    }

    [Fact]
    public void ImplicitObjectnessIsTheFormulaAndGivesTheProductOfProbabilities()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator(7);
        const int a = 2, c = 3;
        var cls = torch.randn(1, a * c, 2, 2, generator: generator).mul(4);
        var obj = torch.randn(1, a, 2, 2, generator: generator).mul(4);
        var result = YolofHead.ImplicitObjectness(cls, obj, c);
        Assert.Equal(new long[] { 1, a * c, 2, 2 }, result.shape);
        var x = cls.to(ScalarType.Float64).data<double>().ToArray();
        var o = obj.to(ScalarType.Float64).data<double>().ToArray();
        var r = result.to(ScalarType.Float64).data<double>().ToArray();
        for (int anchor = 0; anchor < a; anchor++)
        for (int k = 0; k < c; k++)
        for (int p = 0; p < 4; p++)
        {
            // Channel anchor·C + k takes objectness channel anchor.
            double xv = x[(anchor * c + k) * 4 + p], ov = o[anchor * 4 + p];
            double direct = xv + ov - Math.Log(1 + Math.Min(Math.Exp(xv), 1e8) + Math.Min(Math.Exp(ov), 1e8));
            Assert.Equal(direct, r[(anchor * c + k) * 4 + p], 4);
            // σ(x̂) = e^(x+o) / ((1 + eˣ)(1 + eᵒ)) = σ(x)·σ(o) while no exponential reaches the clamp.
            double product = 1 / (1 + Math.Exp(-xv)) / (1 + Math.Exp(-ov));
            Assert.Equal(product, 1 / (1 + Math.Exp(-r[(anchor * c + k) * 4 + p])), 5);
        }
        // Past the clamp: x = 30 (e³⁰ = 1.07e13 → 1e8), o = 0: x̂ = 30 - ln(1 + 1e8 + 1) = 30 - 18.4206808 = 11.5793192.
        var clamped = YolofHead.ImplicitObjectness(torch.tensor(new float[] { 30 }).reshape(1, 1, 1, 1), torch.zeros(1, 1, 1, 1), 1);
        Assert.Equal(11.5793192, clamped.item<float>(), 4);
    }

    [Fact]
    public void OnlyTheBackboneKeepsItsBatchNormsInEvalModeWhenTraining()
    {
        using var generator = new torch.Generator(4);
        var model = YolofFixtures.TinyYolof(numClasses: 2);
        model.train();
        static IEnumerable<BatchNorm2d> Norms(nn.Module m) => m.modules().OfType<BatchNorm2d>();
        Assert.NotEmpty(Norms(model.Neck));
        Assert.NotEmpty(Norms(model.Head));
        Assert.All(Norms(model.Neck).Concat(Norms(model.Head)), n => Assert.True(n.training));
        Assert.All(Norms(model.Backbone), n => Assert.False(n.training));
        // Batch statistics: a training forward moves the neck's running mean.
        var norm = Norms(model.Neck).First();
        var before = norm.running_mean!.clone();
        using (torch.no_grad()) model.forward(torch.randn(2, 3, 64, 64, generator: generator));
        Assert.False(before.allclose(norm.running_mean!));
    }

    [Fact]
    public void OnlyC5FeedsTheNeckAndTheHeadHasOneLevelOfFiveAnchors()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator(5);
        var model = YolofFixtures.TinyYolof(numClasses: 3);
        model.eval();
        var outputs = model.forward(torch.randn(1, 3, 96, 128, generator: generator));
        Assert.Equal(1, outputs.NumLevels);
        Assert.Equal(new long[] { 1, 5 * 3, 3, 4 }, outputs.ClassLogits[0].shape);     // stride 32
        Assert.Equal(new long[] { 1, 5 * 4, 3, 4 }, outputs.BoxRegression[0].shape);
        var priors = model.Priors([(3, 4)], outputs.ClassLogits[0].device);
        // Location (0, 0): squares of side 32·(1, 2, 4, 8, 16) centred at (0, 0).
        Assert.Equal(new float[] { -16, -16, 16, 16, -32, -32, 32, 32, -64, -64, 64, 64, -128, -128, 128, 128, -256, -256, 256, 256 },
            priors.All.narrow(0, 0, 5).reshape(-1).data<float>().ToArray());
        var detections = model.Predict(torch.randn(2, 3, 64, 64, generator: generator));
        Assert.Equal(2, detections.Count);
    }

    [Fact]
    public void TheRegistryBuildsYolofWithTheCommonOptions()
    {
        Assert.Contains("yolof-r18", DetectorRegistry.Names);
        Assert.Contains("yolof-r101", DetectorRegistry.Names);
        Assert.Equal("yolof", DetectorRegistry.Parse("yolof-r50").Family.Name);
        using var backbone = new ResNet(new ResNetOptions(BlocksPerStage: [1, 1, 1, 1]));
        var model = (YolofDetector)DetectorRegistry.Build("yolof-r18", new DetectorBuildOptions(4, backbone, new HierarchicalProgressiveFocalLoss(), FpnChannels: 64, HeadConvs: 2));
        Assert.Equal(64, model.Options.EncoderChannels);
        Assert.Equal(16, model.Options.EncoderMidChannels);
        Assert.Equal((1, 2), (model.Options.ClassConvs, model.Options.RegressionConvs));
        Assert.Equal(0.6, model.Inference.NmsIoU);
        Assert.Equal(32.0, model.BoxCoder.Options.CenterClamp);
        Assert.Throws<HpfDetException>(() => DetectorRegistry.Build("yolof-r18", new DetectorBuildOptions(4, backbone, new SigmoidFocalLoss(), FpnChannels: 64, HeadChannels: 32)));
    }

    [Fact]
    public void OnnxExportSaysYolofIsNotExportableYet()
    {
        var model = YolofFixtures.TinyYolof(numClasses: 2);
        var meta = HpfDet.Tests.Export.OnnxParityTests.Metadata(new ResizeScale(64, 64), new InferenceOptions());
        var e = Assert.Throws<HpfDetException>(() => OnnxExporter.Build(model, meta));
        Assert.Contains("'yolof' (YolofDetector) is not exportable yet", e.Message);
    }
}
