using HpfDet.Losses;
using HpfDet.Models;
using HpfDet.Models.Backbones;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Detectors;

/// <summary>Small GFL detectors for tests, in <see cref="DetectorFixtures"/>' style; every initial weight drawn from a generator seeded with the fixture's seed.</summary>
public static class GflFixtures
{
    public static GflDetector TinyGfl(int numClasses, IClassificationLoss? loss = null, bool pretrained = false, int seed = 0)
    {
        using var generator = new torch.Generator((ulong)seed);
        using var scoped = InitGenerator.Use(generator);
        var backboneOptions = DetectorFixtures.TinyBackboneOptions(pretrained);
        var backbone = DetectorFixtures.TinyBackbone(backboneOptions, pretrained);
        return new GflDetector(new GflDetectorOptions(numClasses, backboneOptions, FpnChannels: 64, HeadChannels: 64, HeadConvs: 2, HeadGroups: 16), loss, backbone);
    }
}

public class GflDetectorTests
{
    [Fact]
    public void HeadOutputsClassScoresAndFourDistributionsOfSeventeenBinsPerLocation()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator(1);
        var model = GflFixtures.TinyGfl(numClasses: 3);
        Assert.Equal(68, model.BoxValuesPerPrior);
        var outputs = model.forward(torch.randn(2, 3, 128, 96, generator: generator));
        int[] strides = [8, 16, 32, 64, 128];
        for (int l = 0; l < 5; l++)
        {
            long h = (long)Math.Ceiling(128.0 / strides[l]), w = (long)Math.Ceiling(96.0 / strides[l]);
            Assert.Equal([2L, 3, h, w], outputs.ClassLogits[l].shape);
            Assert.Equal([2L, 68, h, w], outputs.BoxRegression[l].shape);
        }
        Assert.Empty(outputs.Extra);
        var p = torch.sigmoid(outputs.ClassLogits[0]).mean().item<float>();
        Assert.InRange(p, 0.005f, 0.02f);
    }

    [Fact]
    public void TheRegistryBuildsGflWithItsDefaultsAndExportSaysItIsNotExportableYet()
    {
        using var scope = torch.NewDisposeScope();
        Assert.Contains("gfl-r18", DetectorRegistry.Names);
        using var backbone = new ResNet(new ResNetOptions(BlocksPerStage: [1, 1, 1, 1]));
        using var model = DetectorRegistry.Build("gfl-r50", new DetectorBuildOptions(3, backbone, new QualityFocalLoss(), FpnChannels: 32, HeadChannels: 32, HeadConvs: 1, HeadGroups: 8));
        var gfl = Assert.IsType<GflDetector>(model);
        Assert.Equal("gfl", gfl.Family);
        Assert.Equal(new InferenceOptions(0.05, 1000, 0.6, 100), gfl.Inference);
        Assert.Equal((16, 0.1, 2.0, 0.25), (gfl.Options.RegMax, gfl.Options.DistanceClampEps, gfl.Options.BoxLossWeight, gfl.Options.DflLossWeight));
        var meta = HpfDet.Tests.Export.OnnxParityTests.Metadata(new HpfDet.Data.Transforms.ResizeScale(64, 96), new InferenceOptions());
        var e = Assert.Throws<HpfDetException>(() => HpfDet.Export.OnnxExporter.Build(model, meta));
        Assert.Contains("'gfl'", e.Message);
        Assert.Contains("not exportable yet", e.Message);
    }

    [Fact]
    public void AnImageWithoutGroundTruthGivesZeroBoxLosses()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator(2);
        var model = GflFixtures.TinyGfl(numClasses: 3);
        var empty = new DetectionTarget(torch.zeros(0, 4), torch.zeros(0, dtype: ScalarType.Int64));
        var losses = model.ComputeLosses(torch.randn(1, 3, 64, 64, generator: generator), [empty]);
        Assert.Equal(["classification", "box", "dfl"], losses.Names.ToArray());
        Assert.Equal(0.0f, losses["box"].item<float>());
        Assert.Equal(0.0f, losses["dfl"].item<float>());
        Assert.Equal(0.0f, losses.NumPositives.item<float>());
        var cls = losses.Classification.item<float>();
        Assert.True(cls > 0 && float.IsFinite(cls));
        losses.Total.backward();
    }

    [Fact]
    public void EveryClassificationLossGivesFinitePositiveLossesAndBackwardWorks()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator(3);
        foreach (IClassificationLoss loss in new IClassificationLoss[] { new QualityFocalLoss(), new HierarchicalProgressiveFocalLoss(), new SigmoidFocalLoss(), new VarifocalLoss() })
        {
            var model = GflFixtures.TinyGfl(numClasses: 3, loss);
            var targets = new[]
            {
                new DetectionTarget(torch.tensor(new float[] { 10, 12, 50, 60, 4, 70, 30, 120 }).reshape(2, 4), torch.tensor(new long[] { 2, 0 })),
                new DetectionTarget(torch.tensor(new float[] { 30, 20, 120, 100 }).reshape(1, 4), torch.tensor(new long[] { 1 })),
            };
            var losses = model.ComputeLosses(torch.randn(2, 3, 128, 128, generator: generator), targets);
            Assert.True(losses.NumPositives.item<float>() >= 3);
            foreach (var v in losses.Terms.Select(t => t.Value))
                Assert.True(float.IsFinite(v.item<float>()) && v.item<float>() > 0, $"{loss.Name}: {v.item<float>()}");
            losses.Total.backward();
            var regressor = model.Head.named_parameters().First(p => p.name.EndsWith("gfl_reg.weight")).parameter;
            Assert.True(regressor.grad is not null && torch.isfinite(regressor.grad).all().item<bool>() && regressor.grad.abs().sum().item<float>() > 0, loss.Name);
            if (loss is HierarchicalProgressiveFocalLoss hpf)
            {
                // HPF sees the five levels: its per-level positives add up to the batch's positives.
                var positives = hpf.LastStatistics!.Positives.to(ScalarType.Float64).data<double>().ToArray();
                Assert.Equal(5, positives.Length);
                Assert.Equal(losses.NumPositives.item<float>(), positives.Sum(), 3);
                Assert.Equal(5, hpf.LastStatistics.Gamma.shape[0]);
            }
        }
    }

    /// <summary>
    /// A hand-made batch: a 64×64 image (levels 8×8, 4×4, 2×2, 1×1, 1×1: 86 priors), one positive at prior 0
    /// (level 0, location (0, 0): anchor (-32, -32, 32, 32), centre (0, 0), stride 8) matched to (0, 0, 40, 24),
    /// class logits 0 everywhere and regression logits 0 (uniform distributions).
    /// </summary>
    static (GflDetector Model, TrainingBatch Batch) HandMadeBatch(double classLogit)
    {
        var model = GflFixtures.TinyGfl(numClasses: 3);
        (int, int)[] sizes = [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)];
        var priors = model.Priors(sizes, CPU);
        var outputs = new DenseHeadOutputs(
            sizes.Select(s => torch.full(1, 3, s.Item1, s.Item2, classLogit)).ToArray(),
            sizes.Select(s => torch.zeros(1, 68, s.Item1, s.Item2, requires_grad: true)).ToArray());
        var labels = torch.full(1, 86, 3L);
        labels[0, 0] = torch.tensor(1L);
        var matched = priors.All.unsqueeze(0).clone();
        matched[0, 0] = torch.tensor(new float[] { 0, 0, 40, 24 });
        var positive = labels.lt(3L);
        var positiveF = positive.to(ScalarType.Float32);
        var batch = new TrainingBatch(outputs, priors, labels, matched, positive, positiveF, positiveF.sum(1), positiveF.sum(), positiveF.sum().clamp_min(1.0),
            [(64, 64)], 68);
        return (model, batch);
    }

    [Fact]
    public void TheQualityTargetIsTheIoUOfTheDecodedBoxWithItsGroundTruth()
    {
        using var scope = torch.NewDisposeScope();
        var (model, batch) = HandMadeBatch(0.0);
        // Uniform distributions: every side 8 strides = 64 px from the centre (0, 0): box (-64, -64, 64, 64), area 16384.
        var decoded = model.DecodeBoxes(batch.Priors.All.narrow(0, 0, 1), batch.BoxRegression()[0].narrow(0, 0, 1)).data<float>().ToArray();
        Assert.Equal(new float[] { -64, -64, 64, 64 }, decoded);
        // The ground truth (0, 0, 40, 24), area 960, lies inside it: IoU = 960 / 16384 = 0.05859375; 0 on the other priors.
        var iou = model.PositiveIoU(batch).data<float>().ToArray();
        Assert.Equal(0.05859375f, iou[0], 6);
        Assert.All(iou[1..], v => Assert.Equal(0f, v));
    }

    [Fact]
    public void BoxLossesAreWeightedByTheMaxClassScoreAndNormalisedByTheWeightSum()
    {
        using var scope = torch.NewDisposeScope();
        foreach (var (logit, weight) in new[] { (0.0, 0.5), (Math.Log(3.0), 0.75) })
        {
            var (model, batch) = HandMadeBatch(logit);
            // The positive's weight is σ(logit): 0.5 or 0.75; the normaliser max(1, Σ weights) is 1 in both cases.
            Assert.Equal(weight, model.BoxTermWeights(batch)[0].item<float>(), 6);
            var terms = model.BoxLosses(batch).ToDictionary(t => t.Name, t => t.Value);
            // GIoU: the enclosing box is the decoded box itself, so GIoU = IoU = 0.05859375:
            //   2 · w · (1 - 0.05859375) / 1 = 1.8828125·w.
            Assert.Equal(1.8828125 * weight, terms["box"].item<float>(), 5);
            // DFL: target distances in strides from centre (0, 0) to (0, 0, 40/8, 24/8) = (0, 0, 5, 3), all on a bin;
            //   a uniform distribution gives CE = ln 17 per side: 0.25 · 4·w·ln 17 / (4 · 1) = 0.25·w·ln 17.
            Assert.Equal(0.25 * weight * Math.Log(17), terms["dfl"].item<float>(), 5);
            (terms["box"] + terms["dfl"]).backward();
            Assert.True(batch.Outputs.BoxRegression[0].grad!.abs().sum().item<float>() > 0);
        }
    }

    [Fact]
    public void TheBoxWeightNormaliserIsTheWeightSumOnceItExceedsOne()
    {
        using var scope = torch.NewDisposeScope();
        var (model, batch) = HandMadeBatch(20.0);
        // σ(20) ≈ 1 - 2e-9 for the only positive: Σ weights ≈ 1, so box = 2 · (1 - 0.05859375) = 1.8828125 either way;
        // with two identical positives (prior 0 twice in a batch of two images) Σ = 2 and the loss stays the per-positive value.
        var two = new TrainingBatch(
            new DenseHeadOutputs(batch.Outputs.ClassLogits.Select(t => torch.cat([t, t], 0)).ToArray(), batch.Outputs.BoxRegression.Select(t => torch.cat([t, t], 0)).ToArray()),
            batch.Priors, torch.cat([batch.Labels, batch.Labels], 0), torch.cat([batch.MatchedBoxes, batch.MatchedBoxes], 0),
            torch.cat([batch.Positive, batch.Positive], 0), torch.cat([batch.PositiveF, batch.PositiveF], 0), torch.cat([batch.PositivesPerImage, batch.PositivesPerImage], 0),
            batch.NumPositives.mul(2.0), batch.Normalizer.mul(2.0), [(64, 64), (64, 64)], 68);
        Assert.Equal(1.8828125, model.BoxLosses(batch)[0].Value.item<float>(), 5);
        Assert.Equal(1.8828125, model.BoxLosses(two)[0].Value.item<float>(), 5);
        Assert.Equal(0.25 * Math.Log(17), model.BoxLosses(two)[1].Value.item<float>(), 5);
    }

    [Fact]
    public void PredictRanksBySigmoidScoresAloneAndKeepsBoxesOnTheImage()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator(4);
        var model = GflFixtures.TinyGfl(numClasses: 3);
        model.eval();
        using (torch.no_grad())
            model.named_parameters().First(p => p.name.EndsWith("gfl_cls.bias")).parameter.fill_(0.0f);
        var images = torch.randn(2, 3, 64, 96, generator: generator);
        var dets = model.Predict(images, [(64, 96), (50, 80)]);
        // No score factor: the first image (which fills the batch) keeps its highest classifier sigmoid as its
        // top score, and every score is near 0.5 (logits near 0; a factor such as a centerness near 0.5 would
        // halve them).
        float topSigmoid;
        using (torch.no_grad())
            topSigmoid = model.forward(images).ClassLogits.Select(l => l[0].sigmoid().max().item<float>()).Max();
        Assert.Equal(topSigmoid, dets[0].Scores[0].item<float>(), 1e-5);
        Assert.Equal(2, dets.Count);
        foreach (var (d, (h, w)) in dets.Zip(new[] { (64, 96), (50, 80) }))
        {
            Assert.InRange(d.Count, 1, 100);
            var s = d.Scores.ToArray<float>();
            for (int i = 1; i < s.Length; i++) Assert.True(s[i - 1] >= s[i]);
            Assert.All(s, v => Assert.InRange(v, 0.35f, topSigmoid));
            var b = d.Boxes.ToArray<float>();
            for (int i = 0; i < b.Length; i += 4)
            {
                Assert.InRange(b[i], 0, w); Assert.InRange(b[i + 2], 0, w);
                Assert.InRange(b[i + 1], 0, h); Assert.InRange(b[i + 3], 0, h);
            }
        }
    }
}
