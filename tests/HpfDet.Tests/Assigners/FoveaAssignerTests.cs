using HpfDet.Assigners;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Assigners;

/// <summary>
/// The fovea assigner on a 64×64 input with the default levels: feature maps 8×8 (stride 8), 4×4 (16),
/// 2×2 (32), 1×1 (64), 1×1 (128); priors in level, row, column order, so cell (y, x) of level 0 is y·8 + x,
/// of level 1 is 64 + y·4 + x, of level 2 is 80 + y·2 + x, then 84 and 85. Cell i of a level is centred at
/// (i + 0.5)·stride; a box's fovea is its centre ± σ·half its size, σ = 0.4.
/// </summary>
public class FoveaAssignerTests
{
    static readonly (int H, int W)[] Sizes = [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)];
    const int Cells = 64 + 16 + 4 + 1 + 1;

    static long[] Assign(params float[] boxes) =>
        new FoveaAssigner().Assign(Sizes, tensor(boxes).reshape(-1, 4)).data<long>().ToArray();

    static long[] Expected(params (int Cell, long Gt)[] positives)
    {
        var expected = Enumerable.Repeat(-1L, Cells).ToArray();
        foreach (var (cell, gt) in positives) expected[cell] = gt;
        return expected;
    }

    /// <summary>Cells (first..last, first..last) of a level starting at <paramref name="offset"/> with <paramref name="width"/> columns.</summary>
    static IEnumerable<(int Cell, long Gt)> Square(int offset, int width, int first, int last, long gt) =>
        from y in Enumerable.Range(first, last - first + 1) from x in Enumerable.Range(first, last - first + 1) select (offset + y * width + x, gt);

    [Fact]
    public void TheFoveaIsTheCellsAroundTheCentreWithFloat32RoundingAtItsEdges()
    {
        // Box (0, 0, 40, 40): sqrt(w·h) = 40, in [1, 64] (level 0) and [32, 128] (level 1), below 64 (level 2).
        // Level 0, stride 8: box / 8 = (0, 0, 5, 5), half 2.5.
        //   left = ceil(0 + 0.6·2.5 − 0.5) = ceil(1.0) = 1; right = floor(0 + 1.4·2.5 − 0.5) = floor(3.0) = 3.
        //   In float32 (the reference's dtype) 1.4f·2.5 rounds to exactly 3.5, so the right edge is cell 3 — the cell
        //   whose centre 28 lies exactly on the fovea's edge 20 + 0.4·20 = 28; float64 would give 2.9999999999999996 → 2.
        //   Rows alike: cells (1..3, 1..3).
        // Level 1, stride 16: box / 16 = (0, 0, 2.5, 2.5), half 1.25: left = ceil(0.75 − 0.5) = 1,
        //   right = floor(1.75 − 0.5) = 1: cell (1, 1) = 64 + 4 + 1 = 69.
        var expected = Expected(Square(0, 8, 1, 3, 0).Append((69, 0)).ToArray());
        Assert.Equal(expected, Assign(0, 0, 40, 40));
    }

    [Fact]
    public void LargerBoxesAreWrittenFirstSoTheSmallerKeepsTheOverlapAndABoxMayHaveSeveralLevels()
    {
        // gt 0 = (16, 16, 40, 40): sqrt 24, level 0 only. gt 1 = (0, 0, 64, 64): sqrt 64, in the closed ranges of
        // levels 0 ([1, 64]), 1 ([32, 128]) and 2 ([64, 256]).
        // Level 0: gt 1 / 8 = (0, 0, 8, 8), half 4: left = ceil(2.4 − 0.5) = ceil(1.9) = 2, right = floor(5.6 − 0.5) = 5 → cells (2..5, 2..5).
        //   gt 0 / 8 = (2, 2, 5, 5), half 1.5: left = ceil(2 + 0.9 − 0.5) = ceil(2.4) = 3, right = floor(2 + 2.1 − 0.5) = floor(3.6) = 3 → cell (3, 3) = 27.
        //   gt 1 (larger) is written first, gt 0 over it: cell 27 → 0 although gt 0 comes first in the list.
        // Level 1: gt 1 / 16 = (0, 0, 4, 4), half 2: left = ceil(1.2 − 0.5) = 1, right = floor(2.8 − 0.5) = 2 → cells (1..2, 1..2).
        // Level 2: gt 1 / 32 = (0, 0, 2, 2), half 1: left = ceil(0.6 − 0.5) = 1, right = floor(1.4 − 0.5) = 0 → no cell
        //   (the fovea [19.2, 44.8] holds no cell centre 16 or 48) although the scale is in the range.
        var level0 = Square(0, 8, 2, 5, 1).Select(p => p.Cell == 27 ? (27, 0L) : p);
        var expected = Expected(level0.Concat(Square(64, 4, 1, 2, 1)).ToArray());
        Assert.Equal(expected, Assign(16, 16, 40, 40, 0, 0, 64, 64));
    }

    [Fact]
    public void OfEqualSizesTheLaterBoxIsWrittenLast()
    {
        // gt 0 = (0, 0, 40, 40) → level 0 cells (1..3, 1..3) and level 1 cell 69 (see the first test).
        // gt 1 = (8, 8, 48, 48), also sqrt 40: / 8 = (1, 1, 6, 6), half 2.5: left = ceil(1 + 1.5 − 0.5) = 2,
        //   right = floor(1 + 3.5 − 0.5) = 4 → cells (2..4, 2..4); / 16 = (0.5, 0.5, 3, 3), half 1.25:
        //   left = ceil(0.5 + 0.75 − 0.5) = 1, right = floor(0.5 + 1.75 − 0.5) = 1 → cell 69.
        // Equal sizes are written in index order, so gt 1 keeps the overlap (2..3, 2..3) and cell 69.
        var expected = Expected(Square(0, 8, 1, 3, 0).Concat(Square(0, 8, 2, 4, 1)).Append((69, 1)).ToArray());
        Assert.Equal(expected, Assign(0, 0, 40, 40, 8, 8, 48, 48));
    }

    [Fact]
    public void AFoveaBeyondTheMapIsClampedOntoItsLastCell()
    {
        // gt (72, 72, 88, 88), sqrt 16 → level 0 only: / 8 = (9, 9, 11, 11), half 1: left = ceil(9 + 0.6 − 0.5) = 10,
        // right = floor(9 + 1.4 − 0.5) = 9; both clamped to the last column 7 (and rows alike): cell (7, 7) = 63.
        Assert.Equal(Expected((63, 0)), Assign(72, 72, 88, 88));
    }

    [Fact]
    public void AScaleOutsideEveryRangeHasNoPositives()
    {
        // gt (10, 10, 10.5, 11): sqrt(0.5·1) ≈ 0.71 < 1, the lower bound of level 0.
        Assert.Equal(Expected(), Assign(10, 10, 10.5f, 11));
    }

    [Fact]
    public void AnImageWithoutBoxesIsAllBackground()
    {
        var index = new FoveaAssigner().Assign(Sizes, zeros(0, 4));
        Assert.Equal(Expected(), index.data<long>().ToArray());
    }

    [Fact]
    public void WriteOrderIsDecreasingSizeThenIndex()
    {
        // sizes 16, 64, 16, 40 → written 64 (gt 1), 40 (gt 3), 16 (gt 0), 16 (gt 2): positions 2, 0, 3, 1.
        var order = FoveaAssigner.WriteOrder(tensor(new float[] { 16, 64, 16, 40 }));
        Assert.Equal(new long[] { 2, 0, 3, 1 }, order.data<long>().ToArray());
    }

    [Fact]
    public void OptionsMustGiveOneScaleRangePerStride()
    {
        Assert.Throws<ArgumentException>(() => new FoveaAssigner(new FoveaAssignerOptions(Strides: [8, 16], ScaleRanges: [(1, 64)])));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FoveaAssigner(new FoveaAssignerOptions(Sigma: 0)));
    }
}
