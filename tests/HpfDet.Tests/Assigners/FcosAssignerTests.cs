using HpfDet.Assigners;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Assigners;

public class FcosAssignerTests
{
    // Two levels: level 0 (size 8) points (8, 8) and (16, 16); level 1 (size 16, the last) points (16, 16) and (32, 32).
    static Tensor Priors() => tensor(new float[] { 4, 4, 12, 12, 12, 12, 20, 20, 8, 8, 24, 24, 24, 24, 40, 40 }).reshape(4, 4);

    [Fact]
    public void CentreSamplingInsideAndScaleRangesPickTheSmallestBox()
    {
        // gt 0 = (0, 0, 100, 40): centre (50, 20), area 4000; gt 1 = (10, 10, 22, 22): centre (16, 16), area 144.
        // prior 0, point (8, 8), size 8: gt 0 |8−50| = 42 ≥ 1.5·8 = 12 (too far); gt 1: l = 8 − 10 = −2 (outside) → −1.
        // prior 1, point (16, 16), size 8: gt 0 |16−50| = 34 ≥ 12 (too far); gt 1: distance 0 < 12, l=t=r=b=6 > 0,
        //   max 6 in (0, 64) (first level: lower bound 0) → 1.
        // prior 2, point (16, 16), size 16: gt 0 |16−50| = 34 ≥ 24; gt 1: max 6 ≤ 4·16 = 64 (too small for the level) → −1.
        // prior 3, point (32, 32), size 16: gt 0: |32−50| = 18 < 24 and |32−20| = 12 < 24; (l, t, r, b) = (32, 32, 68, 8),
        //   min 8 > 0, max 68 > 64 and < +∞ (last level) → 0; gt 1: 32 > 22, outside.
        var gt = tensor(new float[] { 0, 0, 100, 40, 10, 10, 22, 22 }).reshape(2, 4);
        var index = new FcosAssigner().Assign(Priors(), 2, 2, gt);
        Assert.Equal(new long[] { -1, 1, -1, 0 }, index.data<long>().ToArray());
    }

    [Fact]
    public void TheLowerBoundOfUpperLevelsExcludesSmallDistances()
    {
        // gt (0, 0, 90, 40): centre (45, 20). prior 3, point (32, 32), size 16: |32−45| = 13 < 24, |32−20| = 12 < 24;
        // (l, t, r, b) = (32, 32, 58, 8): max 58 ≤ 4·16 = 64 → not matched. Nothing else is within 1.5 sizes of (45, 20).
        var gt = tensor(new float[] { 0, 0, 90, 40 }).reshape(1, 4);
        var index = new FcosAssigner().Assign(Priors(), 2, 2, gt);
        Assert.Equal(new long[] { -1, -1, -1, -1 }, index.data<long>().ToArray());
    }

    [Fact]
    public void TheUpperBoundAppliesBelowTheLastLevel()
    {
        // gt (−60, −60, 76, 76): centre (8, 8). prior 0, point (8, 8), size 8: distance 0; (l, t, r, b) = (68, 68, 68, 68),
        // max 68 ≥ 8·8 = 64 → not matched on the first level. prior 1, point (16, 16): |16−8| = 8 < 12, max 76 ≥ 64 → no.
        // prior 2, point (16, 16), size 16: 8 < 24, max 76 in (64, +∞) (last level) → 0. prior 3, point (32, 32): |32−8| = 24, not < 24 → no.
        var gt = tensor(new float[] { -60, -60, 76, 76 }).reshape(1, 4);
        var index = new FcosAssigner().Assign(Priors(), 2, 2, gt);
        Assert.Equal(new long[] { -1, -1, 0, -1 }, index.data<long>().ToArray());
    }

    [Fact]
    public void AnImageWithoutBoxesIsAllBackground()
    {
        var index = new FcosAssigner().Assign(Priors(), 2, 2, zeros(0, 4));
        Assert.Equal(new long[] { -1, -1, -1, -1 }, index.data<long>().ToArray());
    }
}
