using HpfDet.Assigners;
using HpfDet.Data.Transforms;
using HpfDet.Export;
using HpfDet.Losses;
using HpfDet.Models;
using HpfDet.Models.Backbones;
using HpfDet.Tests.Export;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Detectors;

/// <summary>A small PAA in the style of <see cref="DetectorFixtures"/>; every initial weight drawn from a generator seeded with the fixture's seed.</summary>
public static class PaaFixtures
{
    /// <summary>PAA with FPN and head of 64 channels, 2 head convs (GroupNorm 16); ResNet-18 (pretrained or [1,1,1,1] blocks).</summary>
    public static PaaDetector TinyPaa(int numClasses, IClassificationLoss? loss = null, bool pretrained = false, int seed = 0, bool scoreVoting = true)
    {
        using var generator = new torch.Generator((ulong)seed);
        using var scoped = InitGenerator.Use(generator);
        var backboneOptions = DetectorFixtures.TinyBackboneOptions(pretrained);
        var backbone = DetectorFixtures.TinyBackbone(backboneOptions, pretrained);
        return new PaaDetector(new PaaDetectorOptions(numClasses, backboneOptions, FpnChannels: 64, HeadChannels: 64, HeadConvs: 2, HeadGroups: 16, WithScoreVoting: scoreVoting), loss, backbone);
    }
}

public class PaaDetectorTests
{
    static DetectionTarget OneBox(float x1, float y1, float x2, float y2, long label) =>
        new(torch.tensor(new[] { x1, y1, x2, y2 }).reshape(1, 4), torch.tensor(new[] { label }));

    [Fact]
    public void EveryClassificationLossGivesPositivesAndFiniteLossesWithBackward()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator(1);
        foreach (IClassificationLoss loss in new IClassificationLoss[] { new SigmoidFocalLoss(), new HierarchicalProgressiveFocalLoss(), new QualityFocalLoss(), new VarifocalLoss() })
        {
            var model = PaaFixtures.TinyPaa(numClasses: 3, loss);
            var losses = model.ComputeLosses(torch.randn(1, 3, 64, 64, generator: generator), [OneBox(10, 12, 50, 60, 2)]);
            Assert.Equal(["classification", "box", "iou"], losses.Names.ToArray());
            Assert.True(losses.NumPositives.item<float>() >= 1, loss.Name);
            foreach (var v in losses.Terms.Select(t => t.Value))
                Assert.True(float.IsFinite(v.item<float>()) && v.item<float>() > 0, $"{loss.Name}: {v.item<float>()}");
            losses.Total.backward();
            var grad = model.Head.named_parameters().First(p => p.name.EndsWith("atss_cls.weight")).parameter.grad;
            Assert.NotNull(grad);
            Assert.True(torch.isfinite(grad!).all().item<bool>(), loss.Name);
        }
    }

    [Fact]
    public void HpfSeesThePositivesPerLevel()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator(2);
        var hpf = new HierarchicalProgressiveFocalLoss();
        var model = PaaFixtures.TinyPaa(numClasses: 3, hpf);
        // A small and a large box: candidates on several levels.
        var target = new DetectionTarget(torch.tensor(new float[] { 4, 4, 30, 28, 20, 10, 120, 125 }).reshape(2, 4), torch.tensor(new long[] { 0, 1 }));
        var losses = model.ComputeLosses(torch.randn(1, 3, 128, 128, generator: generator), [target]);
        var perLevel = hpf.LastStatistics!.Positives.data<double>().ToArray();
        Assert.Equal(5, perLevel.Length);
        Assert.Equal(losses.NumPositives.item<float>(), perLevel.Sum(), 3);
        Assert.True(perLevel.Count(p => p > 0) >= 2, string.Join(", ", perLevel));
    }

    [Fact]
    public void PositivesAreAFewOfTheFirstAssignmentsCandidatesWithTheirGroundTruth()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator(3);
        var model = PaaFixtures.TinyPaa(numClasses: 3);
        var outputs = model.forward(torch.randn(1, 3, 128, 128, generator: generator));
        var target = OneBox(20, 30, 90, 100, 1);
        var losses = model.ComputeLosses(outputs, [target], [(128, 128)]);
        // The first assignment (IoU ≥ 0.1 with the box, on 5 levels) gives many more candidates; at most
        // 9 per level enter the mixture, and only part of them become positive.
        var priors = model.Priors(outputs.ClassLogits.Select(t => ((int)t.shape[2], (int)t.shape[3])).ToArray(), torch.CPU);
        var candidates = model.FirstAssigner.Assign(priors.All, target.Boxes).ge(ScalarConstants.Zero).sum().item<long>();
        var positives = losses.NumPositives.item<float>();
        Assert.InRange(positives, 1, Math.Min(candidates, 5 * 9));
        Assert.True(candidates > positives, $"{candidates} candidates, {positives} positives");
    }

    [Fact]
    public void CrowdBoxesAndEmptyImagesGetNoPositives()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator(4);
        var model = PaaFixtures.TinyPaa(numClasses: 3);
        var crowd = new DetectionTarget(torch.tensor(new float[] { 10, 12, 50, 60 }).reshape(1, 4), torch.tensor(new long[] { 2 }), torch.tensor(new[] { true }));
        var empty = new DetectionTarget(torch.zeros(0, 4), torch.zeros(0, dtype: ScalarType.Int64));
        var losses = model.ComputeLosses(torch.randn(2, 3, 64, 64, generator: generator), [crowd, empty]);
        Assert.Equal(0f, losses.NumPositives.item<float>());
        Assert.Equal(0f, losses["box"].item<float>());
        Assert.Equal(0f, losses["iou"].item<float>());
        Assert.True(float.IsFinite(losses.Classification.item<float>()) && losses.Classification.item<float>() > 0);
        losses.Total.backward();
    }

    [Fact]
    public void CandidateScoresAreFocalPlusWeightedGIoULossByHand()
    {
        using var scope = torch.NewDisposeScope();
        var model = PaaFixtures.TinyPaa(numClasses: 2);
        // Logits 0 (p = ½) for both classes, target class 0: α(1-p)^γ·ln 2 + (1-α)p^γ·ln 2 = (0.25·0.25 + 0.75·0.25)·ln 2 = 0.25·ln 2.
        // Zero regression decodes to the anchor. Anchor 1 equals its box: GIoU 1, box term 0.
        // Anchor 2 [0, 0, 10, 10] against [0, 0, 10, 20]: IoU ½, the enclosing box is the union, GIoU ½ → 1.3·½ = 0.65.
        var anchors = torch.tensor(new float[] { 0, 0, 8, 8, 0, 0, 10, 10 }).reshape(2, 4);
        var gt = torch.tensor(new float[] { 0, 0, 8, 8, 0, 0, 10, 20 }).reshape(2, 4);
        var scores = model.CandidateScores(anchors, torch.zeros(2, 2), torch.zeros(2, 4), gt, torch.tensor(new long[] { 0, 0 })).data<float>().ToArray();
        Assert.Equal(0.25 * Math.Log(2), scores[0], 5);
        Assert.Equal(0.25 * Math.Log(2) + 0.65, scores[1], 5);
    }

    [Fact]
    public void IoUTargetsAndBoxWeightsComeFromTheDecodedBoxes()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator(5);
        // With every regression output 0 the decoded boxes are the anchors, so the IoU target of each positive
        // is its anchor's IoU with the box; the IoU BCE then is 0.5 · mean over positives of
        // BCE(σ(0) = ½, IoU) = 0.5 · ln 2 (BCE with logit 0 is ln 2 whatever the target).
        var model = PaaFixtures.TinyPaa(numClasses: 3);
        using (torch.no_grad())
            foreach (var (name, p) in model.Head.named_parameters())
                if (name.StartsWith("atss_reg") || name.StartsWith("atss_centerness")) p.zero_();
        var losses = model.ComputeLosses(torch.randn(1, 3, 64, 64, generator: generator), [OneBox(8, 8, 56, 56, 0)]);
        Assert.True(losses.NumPositives.item<float>() >= 1);
        Assert.Equal(0.5 * Math.Log(2), losses["iou"].item<float>(), 5);
        var box = losses["box"].item<float>();
        Assert.True(box > 0 && box < 1.3f, $"{box}");
    }

    [Fact]
    public void InferenceScoresAreTheGeometricMeanOfClassAndIoUScores()
    {
        using var scope = torch.NewDisposeScope();
        var model = PaaFixtures.TinyPaa(numClasses: 2);
        // σ(0) = ½ and σ(ln 3) = ¾, σ(ln ⅓) = ¼: sqrt(½·¾), sqrt(¾·¾) = ¾ for prior 0; sqrt(½·¼), sqrt(¾·¼) for prior 1.
        var logits = torch.tensor(new float[] { 0, (float)Math.Log(3), 0, (float)Math.Log(3) }).reshape(2, 2);
        var iou = torch.tensor(new float[] { (float)Math.Log(3), (float)Math.Log(1.0 / 3) }).reshape(2, 1);
        var level = new LevelPrediction(0, logits, torch.zeros(2, 4), new Dictionary<string, Tensor> { ["centerness"] = iou }, torch.zeros(2, 4));
        var scores = model.CandidateScores(level).data<float>().ToArray();
        Assert.Equal(Math.Sqrt(0.5 * 0.75), scores[0], 5);
        Assert.Equal(0.75, scores[1], 5);
        Assert.Equal(Math.Sqrt(0.5 * 0.25), scores[2], 5);
        Assert.Equal(Math.Sqrt(0.75 * 0.25), scores[3], 5);
    }

    [Fact]
    public void PredictVotesTheBoxesAfterNmsAndKeepsScoresAndLabels()
    {
        using var scope = torch.NewDisposeScope();
        var voting = PaaFixtures.TinyPaa(numClasses: 3, seed: 1);
        var plain = PaaFixtures.TinyPaa(numClasses: 3, seed: 2, scoreVoting: false);
        plain.load_state_dict(voting.state_dict());
        foreach (var m in new[] { voting, plain })
        {
            m.eval();
            using var _ = torch.no_grad();   // lower the classifier bias so that the untrained model produces candidates
            m.named_parameters().First(p => p.name.EndsWith("atss_cls.bias")).parameter.fill_(0.0f);
        }
        // Its own generator: torch's global one is shared with tests running in parallel.
        var images = torch.randn([1, 3, 64, 96], generator: new Generator(11));
        var a = voting.Predict(images, [(64, 96)])[0];
        var b = plain.Predict(images, [(64, 96)])[0];
        Assert.InRange(a.Count, 1, 100);
        Assert.Equal(b.Scores.data<float>().ToArray(), a.Scores.data<float>().ToArray());
        Assert.Equal(b.Labels.data<long>().ToArray(), a.Labels.data<long>().ToArray());
        var s = a.Scores.data<float>().ToArray();
        for (int i = 1; i < s.Length; i++) Assert.True(s[i - 1] >= s[i]);
        // Many overlapping candidates of the untrained model: voting moves at least one box, within the image.
        Assert.True(a.Boxes.sub(b.Boxes).abs().max().item<float>() > 1e-3f);
        var boxes = a.Boxes.data<float>().ToArray();
        for (int i = 0; i < boxes.Length; i += 4)
        {
            Assert.InRange(boxes[i], 0, 96); Assert.InRange(boxes[i + 2], 0, 96);
            Assert.InRange(boxes[i + 1], 0, 64); Assert.InRange(boxes[i + 3], 0, 64);
        }
    }

    [Fact]
    public void TheRegistryBuildsPaaAndExportSaysItIsNotExportableYet()
    {
        Assert.Contains("paa-r18", DetectorRegistry.Names);
        Assert.Contains("paa-r101", DetectorRegistry.Names);
        var (family, _) = DetectorRegistry.Parse("paa-r50");
        using var backbone = new ResNet(new ResNetOptions(BlocksPerStage: [1, 1, 1, 1]));
        using var model = family.Build(new DetectorBuildOptions(3, backbone, new SigmoidFocalLoss(), FpnChannels: 16, HeadChannels: 16, HeadConvs: 1, HeadGroups: 8));
        var paa = Assert.IsType<PaaDetector>(model);
        Assert.Equal(0.6, paa.Inference.NmsIoU);
        Assert.Equal(0.1, paa.FirstAssigner.Options.PositiveIoU);
        Assert.Equal(9, paa.Assigner.Options.TopK);
        Assert.NotNull(paa.Voting);
        var e = Assert.Throws<HpfDetException>(() => OnnxExporter.Build(model, OnnxParityTests.Metadata(new ResizeScale(64, 96), new InferenceOptions())));
        Assert.Contains("'paa'", e.Message);
        Assert.Contains("not exportable yet", e.Message);
    }
}
