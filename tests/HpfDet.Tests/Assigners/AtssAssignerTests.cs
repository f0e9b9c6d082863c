using HpfDet.Assigners;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Assigners;

/// <summary>
/// Hand-computed ATSS cases. Grid used by most cases: 4x4 anchors of side 20 centred at (10x, 10y),
/// x, y = 0..3, index = 4y + x, i.e. anchor (x, y) = [10x-10, 10y-10, 10x+10, 10y+10].
/// </summary>
public class AtssAssignerTests
{
    private const int NumClasses = 3;

    private static Tensor Grid4x4()
    {
        var values = new List<float>();
        for (var y = 0; y < 4; y++)
        {
            for (var x = 0; x < 4; x++)
            {
                values.AddRange([10 * x - 10, 10 * y - 10, 10 * x + 10, 10 * y + 10]);
            }
        }
        return tensor(values.ToArray()).reshape(16, 4);
    }

    private static Tensor Boxes(params float[] xyxy) => tensor(xyxy).reshape(-1, 4);

    private static long[] Longs(Tensor t) => t.cpu().data<long>().ToArray();

    private static long[] Expected(int n, long fill, params (int Index, long Value)[] set)
    {
        var e = Enumerable.Repeat(fill, n).ToArray();
        foreach (var (i, v) in set)
        {
            e[i] = v;
        }
        return e;
    }

    [Fact]
    public void GtOnAnAnchorGetsOnlyThatAnchor()
    {
        using var scope = NewDisposeScope();
        // gt [0,0,20,20] = anchor 5 (centre (10,10)). Candidates (9 nearest centres, no tie at the cut):
        //   anchor 5 (distance 0) IoU 1; anchors 1, 4, 6, 9 (distance 10): inter 200, union 600 → 1/3;
        //   anchors 0, 2, 8, 10 (distance 10√2): inter 100, union 700 → 1/7.
        // mean = (1 + 4/3 + 4/7)/9 = 61/189 = 0.32275; unbiased var = 292/3969 → std = 0.27124;
        // threshold = 0.59399 → only anchor 5 (IoU 1, centre 10 px inside every edge) is positive.
        var result = new AtssAssigner().Assign([Grid4x4()], Boxes(0, 0, 20, 20), tensor(new long[] { 2 }), NumClasses);
        Assert.Equal(Expected(16, 0, (5, 1)), Longs(result.AssignedGtIndex));
        Assert.Equal(Expected(16, NumClasses, (5, 2)), Longs(result.AssignedLabels));
        Assert.Equal(1, result.NumGts);
        var overlaps = result.MaxOverlaps.data<float>().ToArray();
        Assert.Equal(1.0, overlaps[5], 6);
        Assert.Equal(1.0 / 3, overlaps[6], 6);   // negative: best IoU with any gt
        Assert.Equal(1.0 / 7, overlaps[0], 6);
        Assert.Equal(0.0, overlaps[15], 6);      // [20,20,40,40] touches the gt only at a corner
    }

    [Fact]
    public void LargerGtGetsTheFourAnchorsItContains()
    {
        using var scope = NewDisposeScope();
        // gt [0,0,30,30], centre (15,15). Nearest: anchors 5, 6, 9, 10 at 5√2, all inside the gt:
        //   IoU 400/900 = 4/9. Next ring: 8 anchors tied at √250 (1, 2, 4, 7, 8, 11, 13, 14); 5 are taken,
        //   each overlapping the gt by 20x10: IoU 200/1100 = 2/11 (by symmetry whichever 5 are taken).
        // mean = (16/9 + 10/11)/9 = 266/891 = 0.29854; var = 1690/88209 → std = 0.13842;
        // threshold = 0.43696 <= 4/9 = 0.44444 → anchors 5, 6, 9, 10 positive (centres ≥ 10 px inside).
        var result = new AtssAssigner().Assign([Grid4x4()], Boxes(0, 0, 30, 30), tensor(new long[] { 1 }), NumClasses);
        Assert.Equal(Expected(16, 0, (5, 1), (6, 1), (9, 1), (10, 1)), Longs(result.AssignedGtIndex));
        Assert.Equal(Expected(16, NumClasses, (5, 1), (6, 1), (9, 1), (10, 1)), Longs(result.AssignedLabels));
    }

    [Fact]
    public void AnchorPositiveForTwoGtsGoesToTheHigherIoU()
    {
        using var scope = NewDisposeScope();
        // gt 0 = [0,0,30,30] (label 1): positives 5, 6, 9, 10 with IoU 4/9 (previous case).
        // gt 1 = [0,0,20,20] (label 0): positive 5 with IoU 1 (first case).
        // Anchor 5 is positive for both: IoU 1 > 4/9 → gt 1 (index value 2). Per-gt thresholds are
        // independent, so the other anchors stay with gt 0.
        var result = new AtssAssigner().Assign(
            [Grid4x4()], Boxes(0, 0, 30, 30, 0, 0, 20, 20), tensor(new long[] { 1, 0 }), NumClasses);
        Assert.Equal(Expected(16, 0, (5, 2), (6, 1), (9, 1), (10, 1)), Longs(result.AssignedGtIndex));
        Assert.Equal(Expected(16, NumClasses, (5, 0), (6, 1), (9, 1), (10, 1)), Longs(result.AssignedLabels));
        // Anchor 0 [-10,-10,10,10] is negative: IoU with gt 0 = 100/1200, with gt 1 = 100/700 → 1/7.
        Assert.Equal(1.0 / 7, result.MaxOverlaps.data<float>().ToArray()[0], 6);
        // Regression targets: matched gt box per anchor, zeros for the others.
        var matched = result.MatchedGtBoxes(Boxes(0, 0, 30, 30, 0, 0, 20, 20)).data<float>().ToArray();
        Assert.Equal(new float[] { 0, 0, 20, 20 }, matched.Skip(5 * 4).Take(4).ToArray());
        Assert.Equal(new float[] { 0, 0, 30, 30 }, matched.Skip(6 * 4).Take(4).ToArray());
        Assert.Equal(new float[] { 0, 0, 0, 0 }, matched.Skip(0).Take(4).ToArray());
    }

    [Fact]
    public void TwoIdenticalGtsTieToTheFirst()
    {
        using var scope = NewDisposeScope();
        // Both gts are [0,0,20,20] (first case): anchor 5 positive for both with IoU 1; the tie goes to the
        // first maximum (gt 0), as torch.max does.
        var result = new AtssAssigner().Assign(
            [Grid4x4()], Boxes(0, 0, 20, 20, 0, 0, 20, 20), tensor(new long[] { 2, 0 }), NumClasses);
        Assert.Equal(Expected(16, 0, (5, 1)), Longs(result.AssignedGtIndex));
        Assert.Equal(Expected(16, NumClasses, (5, 2)), Longs(result.AssignedLabels));
    }

    [Fact]
    public void GtBetweenAnchorsGetsTheFourAroundIt()
    {
        using var scope = NewDisposeScope();
        // gt [5,5,25,25], centre (15,15): nearest anchors 5, 6, 9, 10 overlap it by 15x15 = 225,
        // union 575 → 9/23 = 0.39130; 5 of the 8 tied anchors of the ring at √250 overlap it by 15x5 = 75,
        // union 725 → 3/29 each.
        // mean = (36/23 + 15/29)/9 = 463/2001 = 0.23138; var = 10240/444889 → std = 0.15171;
        // threshold = 0.38310 <= 9/23 → anchors 5, 6, 9, 10 (centres 5 px inside) are positive.
        var result = new AtssAssigner().Assign([Grid4x4()], Boxes(5, 5, 25, 25), tensor(new long[] { 0 }), NumClasses);
        Assert.Equal(Expected(16, 0, (5, 1), (6, 1), (9, 1), (10, 1)), Longs(result.AssignedGtIndex));
        Assert.Equal(Expected(16, NumClasses, (5, 0), (6, 0), (9, 0), (10, 0)), Longs(result.AssignedLabels));
    }

    [Fact]
    public void SmallGtWithNoAnchorCentreInsideGetsNoPositive()
    {
        using var scope = NewDisposeScope();
        // gt [12,12,18,18] (area 36), centre (15,15). Candidates: anchors 5, 6, 9, 10 each contain the gt:
        // IoU 36/400 = 0.09; 5 ring anchors (e.g. anchor 1 [0,-10,20,10] stops at y = 10 < 12): IoU 0.
        // mean = 0.36/9 = 0.04; var = (4·0.05² + 5·0.04²)/8 = 0.00225 → std = 0.047434; threshold = 0.087434.
        // 5, 6, 9, 10 pass the IoU test, but their centres (10|20, 10|20) are outside [12,18]²: no positive
        // (a known property of ATSS), every anchor is negative.
        var result = new AtssAssigner().Assign([Grid4x4()], Boxes(12, 12, 18, 18), tensor(new long[] { 0 }), NumClasses);
        Assert.Equal(Expected(16, 0), Longs(result.AssignedGtIndex));
        Assert.Equal(Expected(16, NumClasses), Longs(result.AssignedLabels));
    }

    [Fact]
    public void CandidatesComeFromEveryLevel()
    {
        using var scope = NewDisposeScope();
        // Level 0: the 4x4 grid. Level 1: 2x2 anchors of side 40 centred at (0,0), (20,0), (0,20), (20,20):
        // k = min(9, 4) = 4, all candidates. gt [0,0,30,30]:
        //   level 0 candidates as before: 4 x 4/9, 5 x 2/11;
        //   level 1: [-20,-20,20,20] inter 400, union 2100 → 4/21; [0,-20,40,20] and [-20,0,20,40]
        //   inter 600, union 1900 → 6/19; [0,0,40,40] inter 900, union 1600 → 9/16.
        // 13 candidates: mean = 857735/2738736 = 0.31319, std = 0.13917, threshold = 0.45236.
        // Only 9/16 passes: anchor 16 + 3 = 19 (centre (20,20), inside). The level-0 anchors at 4/9 fail now.
        var level1 = Boxes(-20, -20, 20, 20, 0, -20, 40, 20, -20, 0, 20, 40, 0, 0, 40, 40);
        var result = new AtssAssigner().Assign([Grid4x4(), level1], Boxes(0, 0, 30, 30), tensor(new long[] { 1 }), NumClasses);
        Assert.Equal(Expected(20, 0, (19, 1)), Longs(result.AssignedGtIndex));
        // Same with concatenated anchors and counts.
        var concatenated = new AtssAssigner().Assign(cat(new[] { Grid4x4(), level1 }, 0), [16, 4], Boxes(0, 0, 30, 30), tensor(new long[] { 1 }), NumClasses);
        Assert.Equal(Expected(20, 0, (19, 1)), Longs(concatenated.AssignedGtIndex));
    }

    [Fact]
    public void CandidateWhoseCentreIsOnTheGtEdgeIsNotPositive()
    {
        using var scope = NewDisposeScope();
        // gt [0,0,20,20]. One level of 9 anchors, all candidates:
        //   a0 [-20,0,20,20]: inter 400, union 800 → 0.5, centre (0,10) on the left edge (margin 0 ≤ 0.01);
        //   a1 [0,-10,20,30]: inter 400, union 800 → 0.5, centre (10,10) inside;
        //   a2..a8 far away: IoU 0.
        // mean = 1/9, var = (2(7/18)² + 7(1/9)²)/8 = 7/144 → std = √7/12 = 0.22048; threshold = 0.33159.
        // Both a0 and a1 pass the IoU test; only a1 passes the centre test.
        var anchors = new List<float> { -20, 0, 20, 20, 0, -10, 20, 30 };
        for (var i = 0; i < 7; i++)
        {
            anchors.AddRange([100 + 20 * i, 100, 110 + 20 * i, 110]);
        }
        var result = new AtssAssigner().Assign([Boxes(anchors.ToArray())], Boxes(0, 0, 20, 20), tensor(new long[] { 0 }), NumClasses);
        Assert.Equal(Expected(9, 0, (1, 1)), Longs(result.AssignedGtIndex));
    }

    [Fact]
    public void NoGtMeansEveryAnchorIsBackground()
    {
        using var scope = NewDisposeScope();
        var result = new AtssAssigner().Assign([Grid4x4()], zeros(0, 4), zeros(0, dtype: int64), NumClasses);
        Assert.Equal(Expected(16, 0), Longs(result.AssignedGtIndex));
        Assert.Equal(Expected(16, NumClasses), Longs(result.AssignedLabels));
        Assert.All(result.MaxOverlaps.data<float>().ToArray(), v => Assert.Equal(0f, v));
        Assert.Equal(0, result.NumGts);
        Assert.Equal(new long[] { 16, 4 }, result.MatchedGtBoxes(zeros(0, 4)).shape);
    }

    [Fact]
    public void CrowdGtGivesNoPositivesAndIgnoresAnchorsInsideIt()
    {
        using var scope = NewDisposeScope();
        // gt 0 is a crowd region [20,20,40,40]; gt 1 = [0,0,30,30] (label 1) as in the second case.
        // IoF with the crowd box (intersection / anchor area 400): anchor 15 [20,20,40,40] → 1 > 0.5: ignore;
        // anchors 11 [20,10,40,30] and 14 [10,20,30,40] → 200/400 = 0.5, not > 0.5; anchor 10 → 0.25.
        // gt 1's candidates don't include anchor 15, so its positives are unchanged: 5, 6, 9, 10 → index value 2.
        var result = new AtssAssigner(new AtssAssignerOptions(IgnoreIofThreshold: 0.5)).Assign(
            [Grid4x4()], Boxes(20, 20, 40, 40, 0, 0, 30, 30), tensor(new long[] { 0, 1 }), NumClasses,
            gtIsCrowd: tensor(new[] { true, false }));
        Assert.Equal(Expected(16, 0, (5, 2), (6, 2), (9, 2), (10, 2), (15, -1)), Longs(result.AssignedGtIndex));
        Assert.Equal(Expected(16, NumClasses, (5, 1), (6, 1), (9, 1), (10, 1), (15, -1)), Longs(result.AssignedLabels));
        Assert.Equal(2, result.NumGts);
    }

    [Fact]
    public void OnlyCrowdGtsGiveNoPositive()
    {
        using var scope = NewDisposeScope();
        var result = new AtssAssigner(new AtssAssignerOptions(IgnoreIofThreshold: 0.5)).Assign(
            [Grid4x4()], Boxes(0, 0, 20, 20), tensor(new long[] { 0 }), NumClasses, gtIsCrowd: tensor(new[] { true }));
        // Only anchor 5 [0,0,20,20] has IoF > 0.5 with the crowd box (1); its neighbours have 0.5 at most.
        Assert.Equal(Expected(16, 0, (5, -1)), Longs(result.AssignedGtIndex));
    }

    [Fact]
    public void ByDefaultCrowdBoxesGetNoPositivesAndIgnoreNothing()
    {
        using var scope = NewDisposeScope();
        // mmdetection's default ignore_iof_thr = -1: the crowd box [20,20,40,40] only never gets positives;
        // anchor 15, inside it, stays negative; gt 1's positives are 5, 6, 9, 10 as in the crowd case above.
        var result = new AtssAssigner().Assign(
            [Grid4x4()], Boxes(20, 20, 40, 40, 0, 0, 30, 30), tensor(new long[] { 0, 1 }), NumClasses,
            gtIsCrowd: tensor(new[] { true, false }));
        Assert.Equal(Expected(16, 0, (5, 2), (6, 2), (9, 2), (10, 2)), Longs(result.AssignedGtIndex));
    }

    [Fact]
    public void APositiveIsNotOverriddenByAnIgnoreRegion()
    {
        using var scope = NewDisposeScope();
        // TopK 16 makes every anchor a candidate, the ignored one too. gt 1 = [0,0,20,20] has IoU 1 with
        // anchor 5 and 0 with every other (they only touch it): mean 1/16, unbiased std
        // sqrt(((15/16)² + 15·(1/16)²)/15) = 0.25, threshold 0.3125 → anchor 5 positive (centre 10 px inside).
        // The crowd box [0,0,20,20] gives anchor 5 IoF 1 > 0.5, but a positive stays positive (mmdetection).
        var result = new AtssAssigner(new AtssAssignerOptions(TopK: 16, IgnoreIofThreshold: 0.5)).Assign(
            [Grid4x4()], Boxes(0, 0, 20, 20, 0, 0, 20, 20), tensor(new long[] { 0, 1 }), NumClasses,
            gtIsCrowd: tensor(new[] { true, false }));
        Assert.Equal(Expected(16, 0, (5, 2)), Longs(result.AssignedGtIndex));
        Assert.Equal(Expected(16, NumClasses, (5, 1)), Longs(result.AssignedLabels));
    }

    [Fact]
    public void MismatchedShapesAreRejected()
    {
        using var scope = NewDisposeScope();
        var assigner = new AtssAssigner();
        Assert.Throws<ArgumentException>(() => assigner.Assign([Grid4x4()], Boxes(0, 0, 20, 20), tensor(new long[] { 0, 1 }), NumClasses));
        Assert.Throws<ArgumentException>(() => assigner.Assign(Grid4x4(), [10, 5], Boxes(0, 0, 20, 20), tensor(new long[] { 0 }), NumClasses));
    }
}
