using HpfDet.Export;
using HpfDet.Losses;
using HpfDet.Models;
using HpfDet.Models.Backbones;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Detectors;

public class FoveaBoxDetectorTests
{
    static DetectionTarget Box(float x1, float y1, float x2, float y2, long label) =>
        new(tensor(new[] { x1, y1, x2, y2 }).reshape(1, 4), tensor(new[] { label }));

    static DetectionTarget Empty() => new(zeros(0, 4), zeros(0, dtype: ScalarType.Int64));

    [Fact]
    public void HeadOutputsHaveOneMapPerLevelWithP6AndP7FromC5()
    {
        using var scope = NewDisposeScope();
        using var generator = new torch.Generator(1);
        var model = FoveaBoxFixtures.TinyFoveaBox(numClasses: 3);
        var outputs = model.forward(randn(2, 3, 128, 96, generator: generator));
        int[] strides = [8, 16, 32, 64, 128];
        for (int l = 0; l < 5; l++)
        {
            // ceil(H / stride) for the stride-2 convs with padding: 128 → 16, 8, 4, 2, 1; 96 → 12, 6, 3, 2, 1.
            long h = (long)Math.Ceiling(128.0 / strides[l]), w = (long)Math.Ceiling(96.0 / strides[l]);
            Assert.Equal([2L, 3, h, w], outputs.ClassLogits[l].shape);
            Assert.Equal([2L, 4, h, w], outputs.BoxRegression[l].shape);
        }
        Assert.Empty(outputs.Extra);
        // add_extra_convs='on_input': the first extra conv reads C5 (512 channels for R18), the second P6 (64).
        var extra = model.Neck.named_parameters().Where(p => p.name.StartsWith("fpn_convs.") && p.name.EndsWith("weight")).Select(p => p.parameter.shape[1]).ToArray();
        Assert.Equal([64L, 64, 64, 512, 64], extra);
        // Classifier bias initialised to the prior 0.01: every initial score is close to it.
        Assert.InRange(sigmoid(outputs.ClassLogits[0]).mean().item<float>(), 0.005f, 0.02f);
        // mmdetection's parameter names; no normalisation in the basic head.
        var names = model.Head.named_parameters().Select(p => p.name).ToArray();
        Assert.Contains("cls_convs.0.conv.weight", names);
        Assert.Contains("reg_convs.1.conv.bias", names);
        Assert.Contains("conv_cls.weight", names);
        Assert.Contains("conv_reg.bias", names);
        Assert.DoesNotContain(names, n => n.Contains(".gn."));
        Assert.Contains(FoveaBoxFixtures.TinyFoveaBox(3, headGroups: 16).Head.named_parameters(), p => p.name == "cls_convs.0.gn.weight");
    }

    [Fact]
    public void PriorsAreSquaresOfTheBaseEdgeCentredOnTheCells()
    {
        using var scope = NewDisposeScope();
        var model = FoveaBoxFixtures.TinyFoveaBox(numClasses: 3);
        var priors = model.Priors([(2, 3), (1, 2), (1, 1), (1, 1), (1, 1)], CPU);
        // Level 0 (stride 8, edge 16): cell (0, 1) centred at (12, 4) → (4, −4, 20, 12); cell (1, 2) at (20, 12) → (12, 4, 28, 20).
        Assert.Equal(new float[] { 4, -4, 20, 12 }, priors.PerLevel[0][1].data<float>().ToArray());
        Assert.Equal(new float[] { 12, 4, 28, 20 }, priors.PerLevel[0][5].data<float>().ToArray());
        // Level 1 (stride 16, edge 32): cell (0, 1) at (24, 8) → (8, −8, 40, 24). Level 4 (128, 256): (64, 64) → (−64, −64, 192, 192).
        Assert.Equal(new float[] { 8, -8, 40, 24 }, priors.PerLevel[1][1].data<float>().ToArray());
        Assert.Equal(new float[] { -64, -64, 192, 192 }, priors.PerLevel[4][0].data<float>().ToArray());
    }

    /// <summary>
    /// Losses worked out by hand from head outputs set to zero (logit 0: p = 0.5; codes 0: every distance = the edge)
    /// on a 64×64 batch of two images: image 0 has box (0, 0, 40, 40) of class 1 (C = 2), image 1 none.
    /// </summary>
    [Fact]
    public void LossesByHandAreNormalisedByPositivesPlusImagesAndByPositives()
    {
        using var scope = NewDisposeScope();
        var model = FoveaBoxFixtures.TinyFoveaBox(numClasses: 2);
        (int H, int W)[] sizes = [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)];
        var outputs = new DenseHeadOutputs(sizes.Select(s => zeros(2, 2, s.H, s.W, requires_grad: true)).ToArray(), sizes.Select(s => zeros(2, 4, s.H, s.W, requires_grad: true)).ToArray());
        var losses = model.ComputeLosses(outputs, [Box(0, 0, 40, 40, 1), Empty()], [(64, 64), (64, 64)]);

        // Positives (see FoveaAssignerTests): level 0 cells (1..3, 1..3) and level 1 cell (1, 1): 10.
        Assert.Equal(10f, losses.NumPositives.item<float>());

        // Focal loss γ 1.5, α 0.4 (FoveaBox's own when none is given) at p = 0.5: k = 0.5^1.5 · ln 2 = 0.2450645 per element,
        // times α = 0.4 for the 10 positive elements, 1 − α = 0.6 for the negative ones: 86 cells · 2 classes − 10 = 162 in
        // image 0, 172 in image 1. Σ = k · (4 + 0.6 · 334) = k · 204.4; over positives + images = 10 + 2 = 12 → 4.1742659.
        Assert.Equal(4.1742659, losses.Classification.item<float>(), 4);

        // Smooth L1, β = 0.11, of codes 0 against the targets ln(d / e), all |t| ≥ β: |t| − 0.055.
        // Level 0 (edge 16), cell centres 12, 20, 28 in a box spanning 0 … 40: (l, r) = (0.75, 1.75), (1.25, 1.25), (1.75, 0.75) edges,
        //   f(x) = (0.2876821 − 0.055) + (0.5596158 − 0.055) = 0.7372979, f(2) = 2 · (0.2231436 − 0.055) = 0.3362872;
        //   Σ over the 3×3 cells of f(x) + f(y) = 6 · (2 · 0.7372979 + 0.3362872) = 10.8652969.
        // Level 1 (edge 32), centre 24: (l, r) = (t, b) = (0.75, 0.5) edges: 2 · ((0.2876821 − 0.055) + (0.6931472 − 0.055)) = 1.7416585.
        // (10.8652969 + 1.7416585) / 10 positives = 1.2606955.
        Assert.Equal(["classification", "box"], losses.Names.ToArray());
        Assert.Equal(1.2606955, losses["box"].item<float>(), 4);
        losses.Total.backward();
        Assert.True(outputs.BoxRegression[0].grad is { } boxGrad && boxGrad.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void EveryClassificationLossGivesFinitePositiveLossesAndHpfSeesThePositivesPerLevel()
    {
        using var scope = NewDisposeScope();
        using var generator = new torch.Generator(2);
        foreach (IClassificationLoss loss in new IClassificationLoss[] { new SigmoidFocalLoss(), new HierarchicalProgressiveFocalLoss(), new QualityFocalLoss(), new VarifocalLoss() })
        {
            var model = FoveaBoxFixtures.TinyFoveaBox(numClasses: 3, loss);
            // (0, 0, 40, 40) → 9 positives on level 0 and 1 on level 1; (0, 0, 64, 64) in image 1 → 16 on level 0
            // and 4 on level 1 (levels 0–2 by scale, no cell centre in its level-2 fovea).
            var losses = model.ComputeLosses(randn(2, 3, 64, 64, generator: generator), [Box(0, 0, 40, 40, 2), Box(0, 0, 64, 64, 0)]);
            Assert.Equal(30f, losses.NumPositives.item<float>());
            foreach (var v in losses.Terms.Select(t => t.Value))
                Assert.True(float.IsFinite(v.item<float>()) && v.item<float>() > 0, $"{loss.Name}: {v.item<float>()}");
            losses.Total.backward();
            var classifierGrad = model.Head.named_parameters().First(p => p.name == "conv_cls.weight").parameter.grad;
            Assert.True(classifierGrad is not null && classifierGrad.abs().sum().item<float>() > 0, loss.Name);
            if (loss is HierarchicalProgressiveFocalLoss)
                Assert.Equal(new long[] { 25, 5, 0, 0, 0 }, loss.LastStatistics!.ToHost().Positives);
        }
    }

    [Fact]
    public void AnImageWithoutGroundTruthGivesZeroBoxLoss()
    {
        using var scope = NewDisposeScope();
        using var generator = new torch.Generator(3);
        var model = FoveaBoxFixtures.TinyFoveaBox(numClasses: 3);
        var losses = model.ComputeLosses(randn(1, 3, 64, 64, generator: generator), [Empty()]);
        Assert.Equal(0.0f, losses["box"].item<float>());
        Assert.Equal(0.0f, losses.NumPositives.item<float>());
        var cls = losses.Classification.item<float>();
        Assert.True(cls > 0 && float.IsFinite(cls));
        losses.Total.backward();
    }

    [Fact]
    public void WithoutAGivenLossItIsFoveaBoxsFocalLoss()
    {
        var model = FoveaBoxFixtures.TinyFoveaBox(numClasses: 3);
        var focal = Assert.IsType<SigmoidFocalLoss>(model.ClassificationLoss);
        Assert.Equal(1.5, focal.Options.Gamma);
        Assert.Equal(0.4, focal.Options.Alpha);
        Assert.Equal(0.5, model.Inference.NmsIoU);
        Assert.Equal(0.05, model.Inference.ScoreThreshold);
    }

    [Fact]
    public void PredictDecodesBoxesInsideTheImageSortedByScore()
    {
        using var scope = NewDisposeScope();
        using var generator = new torch.Generator(4);
        var model = FoveaBoxFixtures.TinyFoveaBox(numClasses: 3);
        model.eval();
        using (no_grad())   // lower the classifier bias so that the untrained model produces candidates
            model.named_parameters().First(p => p.name.EndsWith("conv_cls.bias")).parameter.fill_(0.0f);
        var dets = model.Predict(randn(2, 3, 64, 96, generator: generator), [(64, 96), (50, 80)]);
        Assert.Equal(2, dets.Count);
        foreach (var (d, (h, w)) in dets.Zip(new[] { (64, 96), (50, 80) }))
        {
            Assert.InRange(d.Count, 1, 100);
            var s = d.Scores.ToArray<float>();
            for (int i = 1; i < s.Length; i++) Assert.True(s[i - 1] >= s[i]);
            var b = d.Boxes.ToArray<float>();
            for (int i = 0; i < b.Length; i += 4)
            {
                Assert.InRange(b[i], 0, w); Assert.InRange(b[i + 2], 0, w);
                Assert.InRange(b[i + 1], 0, h); Assert.InRange(b[i + 3], 0, h);
            }
        }
    }

    [Fact]
    public void TheRegistryBuildsFoveaBoxAndExportSaysItIsNotExportableYet()
    {
        Assert.Contains("foveabox-r18", DetectorRegistry.Names);
        Assert.Contains("foveabox-r101", DetectorRegistry.Names);
        var (family, depth) = DetectorRegistry.Parse("foveabox-r50");
        Assert.Equal("foveabox", family.Name);
        Assert.Equal(ResNetDepth.R50, depth);
        using var backbone = new ResNet(new ResNetOptions(BlocksPerStage: [1, 1, 1, 1]));
        using var model = DetectorRegistry.Build("foveabox-r18", new DetectorBuildOptions(3, backbone, new HierarchicalProgressiveFocalLoss(), FpnChannels: 32, HeadChannels: 32, HeadConvs: 1));
        var fovea = Assert.IsType<FoveaBoxDetector>(model);
        Assert.IsType<HierarchicalProgressiveFocalLoss>(fovea.ClassificationLoss);
        Assert.Null(fovea.Options.HeadGroups);
        Assert.Equal(0.5, fovea.Inference.NmsIoU);
        var meta = HpfDet.Tests.Export.OnnxParityTests.Metadata(new HpfDet.Data.Transforms.ResizeScale(64, 96), new InferenceOptions());
        var e = Assert.Throws<HpfDetException>(() => OnnxExporter.Build(model, meta));
        Assert.Contains("'foveabox'", e.Message);
        Assert.Contains("not exportable yet", e.Message);
    }
}
