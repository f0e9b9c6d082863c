using HpfDet.Boxes;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Boxes;

public class BoxOpsTests
{
    private static Tensor Boxes(params float[] xyxy) => tensor(xyxy).reshape(-1, 4);

    private static float[] Values(Tensor t) => t.contiguous().cpu().data<float>().ToArray();

    [Fact]
    public void AreaClampsNegativeSidesAtZero()
    {
        using var scope = NewDisposeScope();
        // 10x10 = 100; 4x2 = 8; x2 < x1 → width clamped to 0 → 0.
        var area = Values(BoxOps.Area(Boxes(0, 0, 10, 10, 1, 2, 5, 4, 5, 0, 3, 10)));
        Assert.Equal(new float[] { 100, 8, 0 }, area);
    }

    [Fact]
    public void CentersAndClip()
    {
        using var scope = NewDisposeScope();
        var boxes = Boxes(0, 0, 10, 20, -5, -5, 105, 30);
        Assert.Equal(new float[] { 5, 10, 50, 12.5f }, Values(BoxOps.Centers(boxes)));
        // Clip to H=25, W=100: x in [0, 100], y in [0, 25].
        Assert.Equal(new float[] { 0, 0, 10, 20, 0, 0, 100, 25 }, Values(BoxOps.ClipToImage(boxes, 25, 100)));
    }

    [Fact]
    public void PairwiseIoUAndGIoUMatchHandValues()
    {
        using var scope = NewDisposeScope();
        var a = Boxes(0, 0, 10, 10);
        // b0 overlaps a in [5,10]^2: inter 25, union 100+100-25 = 175, IoU = 1/7; enclose 15x15 = 225,
        //    GIoU = 1/7 - (225-175)/225 = 1/7 - 2/9.
        // b1 disjoint [20,0,30,10]: IoU 0; enclose 30x10 = 300, union 200, GIoU = -100/300 = -1/3.
        // b2 inside a [2,2,4,4]: inter 4, union 100, IoU 0.04; enclose = a → GIoU = 0.04.
        // b3 zero-area [5,5,5,10]: IoU 0 (no NaN); enclose = a (100), union 100 → GIoU 0.
        var b = Boxes(5, 5, 15, 15, 20, 0, 30, 10, 2, 2, 4, 4, 5, 5, 5, 10);
        var iou = Values(BoxOps.PairwiseIoU(a, b));
        var giou = Values(BoxOps.PairwiseGIoU(a, b));
        double[] expectedIoU = [1.0 / 7, 0, 0.04, 0];
        double[] expectedGIoU = [1.0 / 7 - 2.0 / 9, -1.0 / 3, 0.04, 0];
        for (var j = 0; j < 4; j++)
        {
            Assert.Equal(expectedIoU[j], iou[j], 6);
            Assert.Equal(expectedGIoU[j], giou[j], 6);
        }
        // Shape [N, M]: 2 x 4 with the second row being a zero-area box against everything.
        var twoRows = BoxOps.PairwiseIoU(Boxes(0, 0, 10, 10, 3, 3, 3, 3), b);
        Assert.Equal(new long[] { 2, 4 }, twoRows.shape);
        Assert.All(Values(twoRows).Skip(4), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void ZeroAreaPairsGiveZeroNotNaN()
    {
        using var scope = NewDisposeScope();
        var z = Boxes(3, 3, 3, 3);
        Assert.Equal(0f, Values(BoxOps.PairwiseIoU(z, z))[0]);
        Assert.Equal(0f, Values(BoxOps.AlignedIoU(z, z))[0]);
        Assert.False(float.IsNaN(Values(BoxOps.PairwiseGIoU(z, z))[0]));
        Assert.False(float.IsNaN(Values(BoxOps.AlignedGIoU(z, z))[0]));
    }

    [Fact]
    public void AlignedMatchesTheDiagonalOfPairwise()
    {
        using var scope = NewDisposeScope();
        // Same hand cases as above, row by row.
        var a = Boxes(0, 0, 10, 10, 0, 0, 10, 10, 0, 0, 10, 10);
        var b = Boxes(5, 5, 15, 15, 20, 0, 30, 10, 2, 2, 4, 4);
        var iou = Values(BoxOps.AlignedIoU(a, b));
        var giou = Values(BoxOps.AlignedGIoU(a, b));
        Assert.Equal(1.0 / 7, iou[0], 6);
        Assert.Equal(0.0, iou[1], 6);
        Assert.Equal(0.04, iou[2], 6);
        Assert.Equal(1.0 / 7 - 2.0 / 9, giou[0], 6);
        Assert.Equal(-1.0 / 3, giou[1], 6);
        Assert.Equal(0.04, giou[2], 6);
    }

    [Fact]
    public void IoFDividesByTheFirstBoxArea()
    {
        using var scope = NewDisposeScope();
        // anchor [20,10,40,30] (area 400) vs region [20,20,40,40]: inter 20x10 = 200 → 0.5.
        Assert.Equal(0.5f, Values(BoxOps.PairwiseIoF(Boxes(20, 10, 40, 30), Boxes(20, 20, 40, 40)))[0]);
    }
}
