using HpfDet.Losses;
using HpfDet.Models;
using HpfDet.Models.Backbones;
using HpfDet.Models.Heads;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Detectors;

/// <summary>A small FSAF for tests, seeded through its own generator (as <see cref="DetectorFixtures.TinyFcos"/>).</summary>
public static class FsafFixtures
{
    /// <summary>
    /// FSAF with FPN and head of 64 channels, 2 head convs and (by default) a GroupNorm head, built under a
    /// generator seeded with <paramref name="seed"/> (<see cref="InitGenerator"/>).
    /// </summary>
    public static FsafDetector TinyFsaf(int numClasses, IClassificationLoss? loss = null, bool pretrained = false, int seed = 0, int? headGroups = 16)
    {
        using var generator = new torch.Generator((ulong)seed);
        using var scoped = InitGenerator.Use(generator);
        var backboneOptions = DetectorFixtures.TinyBackboneOptions(pretrained);
        return new FsafDetector(new FsafDetectorOptions(numClasses, backboneOptions, FpnChannels: 64, HeadChannels: 64, HeadConvs: 2, HeadGroups: headGroups), loss,
            DetectorFixtures.TinyBackbone(backboneOptions, pretrained));
    }
}

public class FsafDetectorTests
{
    const long Ign = PriorAssignment.Ignored;

    /// <summary>
    /// Head outputs for one 64×64 image (levels 8×8, 4×4, 2×2, 1×1, 1×1; 86 priors), two classes, all logits −10 and all
    /// distances 0.5, but at the priors centred on (32, 32), the only ones in the effective region of gt (16, 16, 48, 48)
    /// of class 1 (core (28.8, 28.8, 35.2, 35.2); stride 64 and 128 cover only 10.24/4096 and 40.96/16384 < 0.01 of it):
    /// <list type="bullet">
    /// <item>level 0, prior 4·8+4 = 36 (side 8): class-1 logit +10, codes (t, b, l, r) = (0.25, 0.25, 0.5, 0.5) → box
    /// (16, 24, 48, 40), IoU 512/1024 = 0.5;</item>
    /// <item>level 1, prior 64 + 2·4+2 = 74 (side 16): class-1 logit 0, codes 16/64 = 0.25 → the gt exactly;</item>
    /// <item>level 2, prior 80 + 1·2+1 = 83 (side 32): class-1 logit −10, codes 16/128 = 0.125 → the gt exactly.</item>
    /// </list>
    /// </summary>
    static DenseHeadOutputs HandMadeOutputs()
    {
        (int H, int W)[] sizes = [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)];
        var cls = sizes.Select(s => torch.full(1, 2, s.H, s.W, (-10.0).ToScalar())).ToArray();
        var box = sizes.Select(s => torch.full(1, 4, s.H, s.W, 0.5.ToScalar())).ToArray();
        void Set(int level, int y, int x, double logit, double[] codes)
        {
            cls[level][0, 1, y, x] = torch.tensor((float)logit);
            for (int k = 0; k < 4; k++) box[level][0, k, y, x] = torch.tensor((float)codes[k]);
        }
        Set(0, 4, 4, 10, [0.25, 0.25, 0.5, 0.5]);
        Set(1, 2, 2, 0, [0.25, 0.25, 0.25, 0.25]);
        Set(2, 1, 1, -10, [0.125, 0.125, 0.125, 0.125]);
        return new DenseHeadOutputs(cls, box);
    }

    static DetectionTarget HandMadeTarget() => new(torch.tensor(new float[] { 16, 16, 48, 48 }).reshape(1, 4), torch.tensor(new long[] { 1 }));

    [Fact]
    public void EachGtIsTrainedOnlyOnTheLevelWithTheLowestLoss()
    {
        using var scope = torch.NewDisposeScope();
        var model = FsafFixtures.TinyFsaf(numClasses: 2);
        var outputs = HandMadeOutputs();
        var priors = model.Priors([(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)], torch.CPU);
        var selection = model.AssignAndSelect(priors, HandMadeTarget(), null, outputs, 0);

        // Level costs, focal γ 2, α 0.25 summed over both classes + -log IoU (σ(−10) = 4.54e-5: the class-0 negatives
        // and the level-0 positive cost ~1e-13):
        //   level 0: ≈ 0 + −log 0.5 = 0.693147;
        //   level 1: 0.25·(1 − 0.5)²·log 2 + 0 = 0.0433217;
        //   level 2: 0.25·(1 − σ(−10))²·softplus(10) + 0 = 0.25·0.999909·10.0000454 = 2.49978;
        //   levels 3, 4: no positives → 1e6.
        var costs = selection.LevelCosts.data<float>().ToArray();
        Assert.Equal(0.693147, costs[0], 4);
        Assert.Equal(0.0433217, costs[1], 4);
        Assert.Equal(2.49978, costs[2], 3);
        Assert.Equal(1e6, costs[3], 1);
        Assert.Equal(1e6, costs[4], 1);
        Assert.Equal(new long[] { 1 }, selection.SelectedLevels.data<long>().ToArray());

        // The positive on level 1 stays; those on levels 0 and 2 are ignored; all other priors are background.
        var matches = selection.Matches.data<long>().ToArray();
        Assert.Equal(86, matches.Length);
        Assert.Equal(0, matches[74]);
        Assert.Equal(Ign, matches[36]);
        Assert.Equal(Ign, matches[83]);
        Assert.Equal(83, matches.Count(m => m == PriorAssignment.Background));
    }

    [Fact]
    public void TheClassificationLossSeesOnlyTheSelectedLevel()
    {
        using var scope = torch.NewDisposeScope();
        using var hpf = new HierarchicalProgressiveFocalLoss();
        var model = FsafFixtures.TinyFsaf(numClasses: 2, hpf);
        var losses = model.ComputeLosses(HandMadeOutputs(), [HandMadeTarget()], [(64, 64)]);
        Assert.Equal(1f, losses.NumPositives.item<float>());
        Assert.Equal(new double[] { 0, 1, 0, 0, 0 }, hpf.LastStatistics!.Positives.data<double>().ToArray());
        // The box term is -log IoU of the one selected positive (the exact gt) over one positive: 0.
        Assert.Equal(0f, losses.Terms.Single(t => t.Name == "box").Value.item<float>(), 5);
    }

    [Fact]
    public void EveryClassificationLossGivesPositivesOnOneLevelAndFiniteLosses()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator(1);
        foreach (IClassificationLoss loss in new IClassificationLoss[] { new SigmoidFocalLoss(), new HierarchicalProgressiveFocalLoss(), new QualityFocalLoss(), new VarifocalLoss() })
        {
            var model = FsafFixtures.TinyFsaf(numClasses: 3, loss);
            // gt (10, 12, 50, 60), class 2: core (26, 31.2, 34, 40.8); the level-0 prior centred (32, 32) covers 6·4.8 of its 64.
            var target = new DetectionTarget(torch.tensor(new float[] { 10, 12, 50, 60 }).reshape(1, 4), torch.tensor(new long[] { 2 }));
            var losses = model.ComputeLosses(torch.randn(1, 3, 64, 64, generator: generator), [target]);
            Assert.Equal(["classification", "box"], losses.Names.ToArray());
            Assert.True(losses.NumPositives.item<float>() >= 1);
            foreach (var v in losses.Terms.Select(t => t.Value))
                Assert.True(float.IsFinite(v.item<float>()) && v.item<float>() > 0, $"{loss.Name}: {v.item<float>()}");
            var perLevel = loss.LastStatistics!.Positives.data<double>().ToArray();
            Assert.Equal(5, perLevel.Length);
            Assert.Equal(1, perLevel.Count(p => p > 0));   // one gt: trained on one level
            losses.Total.backward();
            var grad = model.Head.parameters().First().grad;
            Assert.NotNull(grad);
            Assert.True(torch.isfinite(grad!).all().item<bool>());
        }
    }

    [Fact]
    public void PriorsOnBatchPaddingAreIgnored()
    {
        using var scope = torch.NewDisposeScope();
        var model = FsafFixtures.TinyFsaf(numClasses: 2);
        var priors = model.Priors([(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)], torch.CPU);
        // Content 64 wide and 32 high: at stride 8 rows y ≥ ceil(32/8) = 4 lie on padding, among them the gt's prior 36 (y = 4).
        var valid = torch.cat(model.PriorGenerator.ValidFlags([(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)], (32, 64), torch.CPU).ToArray(), 0);
        var matches = model.AssignAndSelect(priors, HandMadeTarget(), valid, HandMadeOutputs(), 0).Matches.data<long>().ToArray();
        Assert.Equal(Ign, matches[0 + 5 * 8 + 1]);
        Assert.Equal(Ign, matches[36]);
    }

    [Fact]
    public void TheRegistryBuildsFsafAndExportRefusesIt()
    {
        Assert.Contains("fsaf-r18", DetectorRegistry.Names);
        Assert.Equal("fsaf", DetectorRegistry.Parse("fsaf-r101").Family.Name);
        using var backbone = new ResNet(new ResNetOptions(BlocksPerStage: [1, 1, 1, 1]));
        using var model = DetectorRegistry.Build("fsaf-r18", new DetectorBuildOptions(3, backbone, new SigmoidFocalLoss(), FpnChannels: 16, HeadConvs: 1));
        Assert.IsType<FsafDetector>(model);
        Assert.Equal(0.5, model.Inference.NmsIoU);
        var e = Assert.Throws<HpfDetException>(() => HpfDet.Export.OnnxExporter.Build(model,
            Export.OnnxParityTests.Metadata(new HpfDet.Data.Transforms.ResizeScale(64, 64), model.Inference)));
        Assert.Contains("'fsaf'", e.Message);
        Assert.Contains("not exportable yet", e.Message);
    }
}
