using HpfDet.Assigners;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Assigners;

/// <summary>
/// YOLOF's uniform matching on hand-made boxes. Distances are the L1 of (cx, cy, w, h); matches are listed
/// rank by rank, predictions' nearest before anchors' nearest, every gt in turn.
/// </summary>
public class UniformAssignerTests
{
    static Tensor Boxes(params float[][] rows) => tensor(rows.SelectMany(r => r).ToArray()).reshape(rows.Length, 4);

    [Fact]
    public void EachGtTakesItsNearestAnchorsAndPredictionsAndTheIgnoreThresholdsApply()
    {
        using var scope = NewDisposeScope();
        // gt [0,0,20,20]: (cx, cy, w, h) = (10, 10, 20, 20).
        var gt = Boxes([0, 0, 20, 20]);
        var anchors = Boxes(
            [0, 0, 20, 20],      // a0 (10,10,20,20): L1 0,  IoU 1
            [2, 0, 22, 20],      // a1 (12,10,20,20): L1 2,  IoU 18·20 / (400+400-360) = 360/440 = 0.818
            [20, 0, 40, 20],     // a2 (30,10,20,20): L1 20, IoU 0
            [0, 0, 40, 40],      // a3 (20,20,40,40): L1 60, IoU 400/1600 = 0.25
            [100, 100, 120, 120],// a4: L1 180, IoU 0
            [6, 6, 14, 14]);     // a5 (10,10,8,8):   L1 24, IoU 64/400 = 0.16
        var predictions = Boxes(
            [50, 50, 70, 72],    // p0 (60,61,20,22): L1 50+51+0+2 = 103, IoU 0
            [100, 0, 120, 20],   // p1 (110,10,20,20): L1 100, IoU 0
            [1, 1, 21, 21],      // p2 (11,11,20,20): L1 2,   IoU 19·19 / (800-361) = 361/439 = 0.822
            [0, 0, 20, 23],      // p3 (10,11.5,20,23): L1 1.5+3 = 4.5, IoU 400/460 = 0.870
            [0, 0, 19, 20],      // p4 (9.5,10,19,20): L1 0.5+1 = 1.5, IoU 380/400 = 0.95
            [60, 0, 81, 20]);    // p5 (70.5,10,21,20): L1 60.5+1 = 61.5, IoU 0
        var assigner = new UniformAssigner(new UniformAssignerOptions(MatchTimes: 2));
        var result = assigner.Assign(anchors, predictions, gt);

        // Nearest predictions: p4 (1.5), p2 (2); nearest anchors: a0 (0), a1 (2).
        // Order: rank 0 → [p4, a0], rank 1 → [p2, a1].
        Assert.Equal(new long[] { 4, 0, 2, 1 }, result.PairPriors.data<long>().ToArray());
        Assert.Equal(new long[] { 0, 0, 0, 0 }, result.PairGts.data<long>().ToArray());
        // The anchor IoU decides: a4 (0) and a2 (0) are below 0.15 → weight 0; a0 (1), a1 (0.818) kept.
        Assert.Equal(new float[] { 0, 1, 0, 1 }, result.PairWeights.data<float>().ToArray());
        // prior 0, 1: positive (gt 0). prior 2, 4: matched but below 0.15 → ignored.
        // prior 3: not matched, but its prediction overlaps the gt by 0.870 > 0.7 → ignored, not background.
        // prior 5: not matched, prediction IoU 0 → background.
        long bg = UniformAssigner.Background, ig = UniformAssigner.Ignored;
        Assert.Equal(new long[] { 0, 0, ig, ig, ig, bg }, result.Matches.data<long>().ToArray());
    }

    [Fact]
    public void APriorMatchedTwiceTakesItsLastMatch()
    {
        using var scope = NewDisposeScope();
        // gt0 (10,10,20,20), gt1 (12,10,20,20).
        var gt = Boxes([0, 0, 20, 20], [2, 0, 22, 20]);
        var anchors = Boxes([0, 0, 20, 20], [2, 0, 22, 20], [100, 100, 140, 140]);
        var predictions = Boxes(
            [200, 200, 220, 220],  // q0: far from both
            [0, 0, 20, 20],        // q1 = gt0: L1 0 to gt0, 2 to gt1
            [2, 0, 22, 20]);       // q2 = gt1: L1 2 to gt0, 0 to gt1
        var result = new UniformAssigner(new UniformAssignerOptions(MatchTimes: 1)).Assign(anchors, predictions, gt);
        // Rank 0: predictions [gt0 → q1 (prior 1), gt1 → q2 (prior 2)], anchors [gt0 → a0, gt1 → a1].
        Assert.Equal(new long[] { 1, 2, 0, 1 }, result.PairPriors.data<long>().ToArray());
        Assert.Equal(new long[] { 0, 1, 0, 1 }, result.PairGts.data<long>().ToArray());
        // Anchor IoUs: (a1, gt0) 360/440 = 0.818 kept; (a2, gt1) 0 → weight 0; (a0, gt0) 1; (a1, gt1) 1.
        Assert.Equal(new float[] { 1, 0, 1, 1 }, result.PairWeights.data<float>().ToArray());
        // prior 0 → gt0; prior 1 is matched to gt0 (position 0) and then to gt1 (position 3): it takes gt1;
        // prior 2's only match is ignored (its prediction's IoU of 1 would have ignored it as a negative too).
        Assert.Equal(new long[] { 0, 1, UniformAssigner.Ignored }, result.Matches.data<long>().ToArray());
    }

    [Fact]
    public void WithoutGroundTruthEveryPriorIsBackgroundAndThereAreNoMatches()
    {
        using var scope = NewDisposeScope();
        var anchors = Boxes([0, 0, 20, 20], [2, 0, 22, 20]);
        var result = new UniformAssigner().Assign(anchors, anchors, zeros(0, 4));
        Assert.Equal(new long[] { UniformAssigner.Background, UniformAssigner.Background }, result.Matches.data<long>().ToArray());
        Assert.Equal(0, result.PairPriors.shape[0]);
        Assert.Equal(0, result.PairWeights.shape[0]);
    }

    [Fact]
    public void MoreMatchTimesThanPriorsTakesEveryPrior()
    {
        using var scope = NewDisposeScope();
        // Default k = 4 with 2 priors: each kind contributes both priors, rank by rank.
        var anchors = Boxes([0, 0, 20, 20], [2, 0, 22, 20]);
        var result = new UniformAssigner().Assign(anchors, anchors, Boxes([0, 0, 20, 20]));
        Assert.Equal(new long[] { 0, 0, 1, 1 }, result.PairPriors.data<long>().ToArray());
        Assert.Equal(new long[] { 0, 0 }, result.Matches.data<long>().ToArray());
    }
}
