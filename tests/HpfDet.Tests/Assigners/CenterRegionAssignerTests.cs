using HpfDet.Assigners;
using HpfDet.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Assigners;

public class CenterRegionAssignerTests
{
    const long Bg = PriorAssignment.Background;
    const long Ign = PriorAssignment.Ignored;

    static Tensor Boxes(params float[] xyxy) => tensor(xyxy).reshape(-1, 4);

    [Fact]
    public void EffectiveRegionIgnoringRegionAndTheMinimumIof()
    {
        // gt (0, 0, 100, 100), class 1; effective (core) and ignoring boxes, scale 0.2: (40, 40, 60, 60), area 400.
        // prior 0 (45, 45, 55, 55): centre (50, 50) inside the gt, IoF = 100/100 = 1 > 0.01 → positive for gt 0.
        // prior 1 (0, 0, 20, 20): centre (10, 10) inside the gt, but it does not touch the core (IoF 0) → background.
        // prior 2 (−100, −100, 60, 60): side 160, centre (−20, −20) outside the gt; the core lies inside it,
        //   IoF = 400/25600 = 0.0156 > 0.01 → ignoring region → ignored, class 1 shadowed.
        // prior 3 (−70, −70, 90, 90): side 160, centre (10, 10) inside the gt, IoF = 400/25600 = 0.0156 > 0.01 → positive.
        // prior 4 (−150, −150, 170, 170): side 320, same centre (10, 10), IoF = 400/102400 = 0.0039 ≤ 0.01 → background.
        // prior 5 (100, 40, 120, 60): centre (110, 50) outside, does not touch the core → background.
        var priors = Boxes(45, 45, 55, 55, 0, 0, 20, 20, -100, -100, 60, 60, -70, -70, 90, 90, -150, -150, 170, 170, 100, 40, 120, 60);
        var result = new CenterRegionAssigner().Assign(priors, Boxes(0, 0, 100, 100), tensor(new long[] { 1 }), numClasses: 3);
        Assert.Equal(new long[] { 0, Bg, Ign, 0, Bg, Bg }, result.Matches.data<long>().ToArray());
        var shadowed = result.ShadowedClasses.data<bool>().ToArray();
        Assert.Equal(new[] { false, false, false, false, false, false, false, true, false }, shadowed.Take(9).ToArray());
        Assert.Equal(1, shadowed.Count(s => s));
    }

    [Fact]
    public void ThePriorCentreMustLieStrictlyInsideTheBox()
    {
        // gt (0, 0, 16, 16): core (6.4, 6.4, 9.6, 9.6). prior 0 (0, 0, 16, 16) centred at (8, 8): positive.
        // prior 1 (8, 0, 24, 16), centre (16, 8) on the gt's right edge (not strictly inside) → not positive; it covers
        //   (8..9.6)·(6.4..9.6) = 1.6·3.2 = 5.12 of its 256 = 0.02 > 0.01 of the ignoring box → ignored.
        // prior 2 (−12, −12, 28, 28), side 40, centre (8, 8): covers the whole core, 10.24/1600 = 0.0064 ≤ 0.01 → background.
        var priors = Boxes(0, 0, 16, 16, 8, 0, 24, 16, -12, -12, 28, 28);
        var result = new CenterRegionAssigner().Assign(priors, Boxes(0, 0, 16, 16), tensor(new long[] { 0 }), numClasses: 1);
        Assert.Equal(new long[] { 0, Ign, Bg }, result.Matches.data<long>().ToArray());
    }

    [Fact]
    public void TheSmallerGtWinsWhereEffectiveRegionsOverlap()
    {
        // gt 0 (40, 40, 60, 60), class 1, area 400, core (48, 48, 52, 52); gt 1 (0, 0, 100, 100), class 0, area 10000, core (40, 40, 60, 60).
        // prior 0 (45, 45, 55, 55), centre (50, 50): in gt 1's core (IoF 1) and in gt 0's (16/100 = 0.16 > 0.01): the smaller,
        //   gt 0, wins (whatever its index); gt 1 shadows its class 0 there, the prior stays a positive of class 1.
        // prior 1 (35, 35, 45, 45), centre (40, 40): on gt 0's edge (not strictly inside); in gt 1's core (IoF 25/100) → gt 1;
        //   gt 0's core (48..52) is not touched → nothing shadowed.
        var priors = Boxes(45, 45, 55, 55, 35, 35, 45, 45);
        var result = new CenterRegionAssigner().Assign(priors, Boxes(40, 40, 60, 60, 0, 0, 100, 100), tensor(new long[] { 1, 0 }), numClasses: 2);
        Assert.Equal(new long[] { 0, 1 }, result.Matches.data<long>().ToArray());
        Assert.Equal(new[] { true, false, false, false }, result.ShadowedClasses.data<bool>().ToArray());

        // The same boxes in the other order: the small box (now gt 1) still wins prior 0.
        var swapped = new CenterRegionAssigner().Assign(priors, Boxes(0, 0, 100, 100, 40, 40, 60, 60), tensor(new long[] { 0, 1 }), numClasses: 2);
        Assert.Equal(new long[] { 1, 0 }, swapped.Matches.data<long>().ToArray());
    }

    [Fact]
    public void APositiveShadowedByAGtOfItsOwnClassIsIgnored()
    {
        // As above but both gts have class 0: prior 0 wins gt 0 (smaller), while gt 1 shadows class 0 at it, its own class:
        // it becomes a negative whose class 0 weighs nothing, which a per-prior weight can only give as an ignored prior.
        var priors = Boxes(45, 45, 55, 55, 35, 35, 45, 45);
        var result = new CenterRegionAssigner().Assign(priors, Boxes(40, 40, 60, 60, 0, 0, 100, 100), tensor(new long[] { 0, 0 }), numClasses: 2);
        Assert.Equal(new long[] { Ign, 1 }, result.Matches.data<long>().ToArray());
    }

    [Fact]
    public void CrowdBoxesAreNeverAssignedAndIgnoreTheirCentralHalf()
    {
        // gt 0 (0, 0, 100, 100) is a crowd: its central half (25, 25, 75, 75) is ignored. gt 1 (200, 200, 220, 220), core (208, 208, 212, 212).
        // prior 0 centred (50, 50) → ignored; prior 1 centred (10, 10) (inside the crowd box, not its central half) → background;
        // prior 2 centred (210, 210) → positive for gt 1.
        var priors = Boxes(45, 45, 55, 55, 5, 5, 15, 15, 205, 205, 215, 215);
        var result = new CenterRegionAssigner().Assign(priors, Boxes(0, 0, 100, 100, 200, 200, 220, 220), tensor(new long[] { 0, 1 }), 2,
            tensor(new[] { true, false }));
        Assert.Equal(new long[] { Ign, Bg, 1 }, result.Matches.data<long>().ToArray());
    }

    [Fact]
    public void WithoutGroundTruthEveryPriorIsBackground()
    {
        var result = new CenterRegionAssigner().Assign(Boxes(0, 0, 8, 8, 8, 8, 16, 16), zeros(0, 4), zeros(0, dtype: ScalarType.Int64), 3);
        Assert.Equal(new long[] { Bg, Bg }, result.Matches.data<long>().ToArray());
        Assert.Equal(new long[] { 2, 3 }, result.ShadowedClasses.shape);
    }
}
