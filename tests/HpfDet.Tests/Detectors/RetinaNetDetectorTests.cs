using HpfDet.Assigners;
using HpfDet.Losses;
using HpfDet.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Detectors;

public class RetinaNetDetectorTests
{
    [Fact]
    public void HeadOutputsNineAnchorsPerLocationOnFiveLevels()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator(1);
        var model = DetectorFixtures.TinyRetinaNet(numClasses: 3);
        var outputs = model.forward(torch.randn(2, 3, 128, 96, generator: generator));
        int[] strides = [8, 16, 32, 64, 128];
        for (int l = 0; l < 5; l++)
        {
            long h = (long)Math.Ceiling(128.0 / strides[l]), w = (long)Math.Ceiling(96.0 / strides[l]);
            Assert.Equal([2L, 27, h, w], outputs.ClassLogits[l].shape);
            Assert.Equal([2L, 36, h, w], outputs.BoxRegression[l].shape);
        }
        Assert.Empty(outputs.Extra);
        // torchvision's classifier bias -log(99): every initial score is close to 0.01.
        Assert.InRange(torch.sigmoid(outputs.ClassLogits[0]).mean().item<float>(), 0.005f, 0.02f);
        Assert.Equal(0.5, model.Inference.NmsIoU);
    }

    [Fact]
    public void EveryClassificationLossGivesFiniteLossesAndGradients()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator(2);
        foreach (IClassificationLoss loss in new IClassificationLoss[] { new SigmoidFocalLoss(), new HierarchicalProgressiveFocalLoss(), new QualityFocalLoss(), new VarifocalLoss() })
        {
            var model = DetectorFixtures.TinyRetinaNet(numClasses: 3, loss);
            var target = new DetectionTarget(torch.tensor(new float[] { 10, 12, 50, 60 }).reshape(1, 4), torch.tensor(new long[] { 2 }));
            var empty = new DetectionTarget(torch.zeros(0, 4), torch.zeros(0, dtype: ScalarType.Int64));
            var losses = model.ComputeLosses(torch.randn(2, 3, 64, 64, generator: generator), [target, empty]);
            Assert.Equal(["classification", "box"], losses.Names.ToArray());
            Assert.True(losses.NumPositives.item<float>() >= 1);
            foreach (var v in losses.Terms.Select(t => t.Value))
                Assert.True(float.IsFinite(v.item<float>()) && v.item<float>() > 0, $"{loss.Name}: {v.item<float>()}");
            losses.Total.backward();
            var grad = model.Head.parameters().First().grad;
            Assert.NotNull(grad);
            Assert.True(grad!.isfinite().all().item<bool>(), loss.Name);
        }
    }

    /// <summary>
    /// RetinaNet normalises the classification loss per image (LossScale); HPF's γ must come from the
    /// positives per level alone: the same γ as a direct HPF call on the same levels without LossScale,
    /// while the loss values differ (the normalisation does change the loss).
    /// </summary>
    [Theory]
    [MemberData(nameof(RetinaNetOracleTests.Cases), MemberType = typeof(RetinaNetOracleTests))]
    public void HpfGammaDoesNotDependOnThePerImageNormalisation(string file)
    {
        using var scope = torch.NewDisposeScope();
        var c = DetectorOracleCase.Load(file);
        // A range wide enough that no γ is clamped: γ_l is then the mean of -log σ over the level's positives.
        var options = new HierarchicalProgressiveFocalLossOptions(Gamma0: 50, Delta: 49.9);
        using var inDetector = new HierarchicalProgressiveFocalLoss(options);
        var model = RetinaNetOracleTests.Build(c, ScalarType.Float64, inDetector);
        var outputs = model.Head.call(c.Features(ScalarType.Float64));
        var targets = c.Targets(ScalarType.Float64);
        var detectorLoss = model.ComputeLosses(outputs, targets, Enumerable.Repeat(c.ImageSize, c.BatchSize).ToArray()).Classification.item<double>();
        var gamma = inDetector.LastStatistics!.Gamma.data<double>().ToArray();

        // The same levels built here: labels from the detector's public anchors and matcher, no LossScale.
        var featureSizes = outputs.ClassLogits.Select(t => ((int)t.shape[2], (int)t.shape[3])).ToArray();
        var anchors = model.AnchorGenerator.GridAnchors(featureSizes, CPU);
        var labels = torch.stack(targets.Select(t =>
        {
            var m = model.Assigner.Assign(torch.cat(anchors.ToArray(), 0), t.Boxes);
            if (t.Boxes.shape[0] == 0) return torch.full_like(m, c.NumClasses);
            return torch.where(m.ge(0), t.Labels.index_select(0, m.clamp_min(0)), c.NumClasses).masked_fill(m.eq(MaxIoUAssigner.Ignored), -1);
        }).ToArray());
        var levels = new List<ClassificationLevelInput>();
        long offset = 0;
        for (int l = 0; l < anchors.Count; l++)
        {
            long n = anchors[l].shape[0];
            levels.Add(new ClassificationLevelInput(outputs.ClassLogits[l].permute(0, 2, 3, 1).reshape(-1, c.NumClasses), labels.narrow(1, offset, n).reshape(-1)));
            offset += n;
        }
        using var direct = new HierarchicalProgressiveFocalLoss(options);
        var directLoss = direct.Forward(levels).item<double>();
        var directGamma = direct.LastStatistics!.Gamma.data<double>().ToArray();

        Assert.Equal(directGamma, gamma);
        if (targets.Any(t => t.Boxes.shape[0] > 0))
            Assert.Contains(gamma, g => g != options.Gamma0);                   // some level has positives
        Assert.True(Math.Abs(directLoss - detectorLoss) > 1e-6 * Math.Abs(directLoss), $"per image {detectorLoss} vs per batch {directLoss}");
    }

    [Theory]
    [InlineData("fl")]
    [InlineData("hpf")]
    public void TheClassifierGetsAGradient(string name)
    {
        using var scope = torch.NewDisposeScope();
        var c = DetectorOracleCase.Load("retinanet_mixed.json");
        IClassificationLoss loss = name == "fl" ? new SigmoidFocalLoss() : new HierarchicalProgressiveFocalLoss();
        var model = RetinaNetOracleTests.Build(c, ScalarType.Float64, loss);
        var outputs = model.Head.call(c.Features(ScalarType.Float64));
        var losses = model.ComputeLosses(outputs, c.Targets(ScalarType.Float64), Enumerable.Repeat(c.ImageSize, c.BatchSize).ToArray());
        losses.Classification.backward();
        var grads = model.Head.named_parameters().Where(p => p.name.StartsWith("classification_head")).Select(p => (p.name, p.parameter.grad is null ? -1 : p.parameter.grad.norm().item<double>())).ToArray();
        Assert.True(grads.All(g => g.Item2 > 0), string.Join("; ", grads.Select(g => $"{g.name} {g.Item2:E2}")));
    }
}
