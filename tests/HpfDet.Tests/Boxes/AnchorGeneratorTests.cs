using HpfDet.Boxes;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Boxes;

public class AnchorGeneratorTests
{
    [Fact]
    public void AtssDefaultsOnA2x2MapAtStride8()
    {
        using var scope = NewDisposeScope();
        var generator = new AnchorGenerator(new AnchorGeneratorOptions(Strides: [8]));
        var anchors = generator.GridAnchors([(2, 2)], CPU)[0];
        // Side = 8 * 8 = 64, half 32; centres (0,0), (8,0), (0,8), (8,8) in row-major order (y outer).
        float[] expected =
        [
            -32, -32, 32, 32,
            -24, -32, 40, 32,
            -32, -24, 32, 40,
            -24, -24, 40, 40,
        ];
        Assert.Equal(new long[] { 4, 4 }, anchors.shape);
        Assert.Equal(ScalarType.Float32, anchors.dtype);
        Assert.Equal(expected, anchors.data<float>().ToArray());
    }

    [Fact]
    public void RatiosOuterScalesInnerWithCentreOffset()
    {
        using var scope = NewDisposeScope();
        var generator = new AnchorGenerator(new AnchorGeneratorOptions(
            Strides: [16], OctaveBaseScale: 4, ScalesPerOctave: 2, Ratios: [0.5, 2.0], CenterOffset: 0.5));
        var anchors = generator.GridAnchors([(1, 2)], CPU)[0];
        Assert.Equal(new long[] { 8, 4 }, anchors.shape); // 2 locations x (2 ratios x 2 scales)
        // Scales 4 and 4*sqrt(2). Ratio r = h/w: h factor sqrt(r), w factor 1/sqrt(r).
        // Location (0,0): centre (8, 8).
        //  r=0.5, s=4:        w = 16*4*sqrt(2) = 90.50967, h = 16*4/sqrt(2) = 45.254834
        //  r=0.5, s=4sqrt2:   w = 128, h = 64
        //  r=2,   s=4:        w = 45.254834, h = 90.50967
        //  r=2,   s=4sqrt2:   w = 64, h = 128
        double[][] wh = [[90.50967, 45.254834], [128, 64], [45.254834, 90.50967], [64, 128]];
        var v = anchors.data<float>().ToArray();
        for (var loc = 0; loc < 2; loc++)
        {
            var cx = 8 + 16 * loc;
            for (var a = 0; a < 4; a++)
            {
                var row = (loc * 4 + a) * 4;
                Assert.Equal(cx - wh[a][0] / 2, v[row], 3);
                Assert.Equal(8 - wh[a][1] / 2, v[row + 1], 3);
                Assert.Equal(cx + wh[a][0] / 2, v[row + 2], 3);
                Assert.Equal(8 + wh[a][1] / 2, v[row + 3], 3);
            }
        }
    }

    [Fact]
    public void OneTensorPerLevelWithHWACount()
    {
        using var scope = NewDisposeScope();
        var generator = new AnchorGenerator();
        var sizes = new List<(int H, int W)> { (10, 12), (5, 6), (3, 3), (2, 2), (1, 1) };
        var levels = generator.GridAnchors(sizes, CPU);
        Assert.Equal(5, levels.Count);
        for (var l = 0; l < 5; l++)
        {
            Assert.Equal(sizes[l].H * sizes[l].W, levels[l].shape[0]);
        }
        // Last anchor of level 1 (stride 16): location (x=5, y=4) → centre (80, 64), side 128.
        var last = levels[1][-1].data<float>().ToArray();
        Assert.Equal(new float[] { 16, 0, 144, 128 }, last);
        Assert.Throws<ArgumentException>(() => generator.GridAnchors([(1, 1)], CPU));
    }

    [Fact]
    public void ValidFlagsMarkLocationsInsideTheUnpaddedImage()
    {
        using var scope = NewDisposeScope();
        var generator = new AnchorGenerator(new AnchorGeneratorOptions(Strides: [8], Ratios: [1.0, 2.0]));
        // Feature 2x3, image 9 high (ceil(9/8) = 2 rows valid) and 12 wide (ceil(12/8) = 2 columns valid).
        var flags = generator.ValidFlags([(2, 3)], (9, 12), CPU)[0].data<bool>().ToArray();
        bool[] expected = [true, true, true, true, false, false, true, true, true, true, false, false];
        Assert.Equal(expected, flags);
    }

    [Fact]
    public void PointsAreCellCentres()
    {
        using var scope = NewDisposeScope();
        var generator = new PointGenerator(new PointGeneratorOptions(Strides: [4]));
        var points = generator.GridPoints([(2, 3)], CPU)[0];
        // (x + 0.5) * 4 for x = 0..2, (y + 0.5) * 4 for y = 0..1, y outer.
        Assert.Equal(new float[] { 2, 2, 6, 2, 10, 2, 2, 6, 6, 6, 10, 6 }, points.data<float>().ToArray());
        Assert.Equal(new float[] { 4, 4, 4, 4, 4, 4 }, generator.GridStrides([(2, 3)], CPU)[0].data<float>().ToArray());
    }

    [Fact]
    public void TorchvisionRetinaNetAnchorsAreRoundedHalfToEvenAndShiftedWithoutOffset()
    {
        using var scope = NewDisposeScope();
        var generator = new AnchorGenerator(AnchorGeneratorOptions.TorchvisionRetinaNet());
        Assert.Equal(9, generator.NumAnchorsPerLocation);
        Assert.Equal([32.0, 40, 50], generator.Options.Sizes![0]);          // int(32·2^(1/3)) = int(40.3), int(32·2^(2/3)) = int(50.8)
        Assert.Equal([512.0, 645, 812], generator.Options.Sizes![4]);
        var anchors = generator.GridAnchors([(1, 2), (1, 1), (1, 1), (1, 1), (1, 1)], CPU);
        // Level 0, ratio 0.5 (h/w): w = 32·√2 = 45.25 → half 22.63 → 23, h = 32/√2 = 22.63 → half 11.31 → 11;
        // size 40: halves 28.28, 14.14 → 28, 14; size 50: 35.36, 17.68 → 35, 18. Ratio 1: 16, 20, 25. Ratio 2: transposed.
        float[] location0 =
        [
            -23, -11, 23, 11, -28, -14, 28, 14, -35, -18, 35, 18,
            -16, -16, 16, 16, -20, -20, 20, 20, -25, -25, 25, 25,
            -11, -23, 11, 23, -14, -28, 14, 28, -18, -35, 18, 35,
        ];
        var level0 = anchors[0].data<float>().ToArray();
        Assert.Equal(location0, level0.Take(36).ToArray());
        // The second location is shifted by x·stride = 8 (no centre offset).
        Assert.Equal(location0.Select((v, i) => i % 2 == 0 ? v + 8 : v).ToArray(), level0.Skip(36).ToArray());
        // Level 1, size 101, ratio 1: half 50.5 rounds to even, 50 (not 51).
        Assert.Equal([-50f, -50, 50, 50], anchors[1].data<float>().ToArray().Skip(4 * 5).Take(4).ToArray());
    }

    [Fact]
    public void SizesMustGiveOneEqualLengthListPerStride()
    {
        var e = Assert.Throws<HpfDetException>(() => new AnchorGenerator(new AnchorGeneratorOptions(Strides: [8, 16], Sizes: [[32.0]])));
        Assert.Contains("Sizes", e.Message);
    }
    [Fact]
    public void ScaledAnchorsMultiplyEverySide()
    {
        using var scope = NewDisposeScope();
        // ATSS's octave base scale 8 × 0.5 = 4: side 8 · 4 = 32, half 16, centred on (0, 0).
        var atss = new AnchorGenerator(new AnchorGeneratorOptions(Strides: [8]).Scaled(0.5)).GridAnchors([(1, 1)], CPU)[0];
        Assert.Equal(new float[] { -16, -16, 16, 16 }, atss.data<float>().ToArray());
        // Explicit sizes (torchvision's form): 32 and 40 × 0.4 = 12.8 and 16 at ratio 1, no rounding.
        var sized = new AnchorGenerator(new AnchorGeneratorOptions(Strides: [8], Sizes: [[32, 40]]).Scaled(0.4)).GridAnchors([(1, 1)], CPU)[0];
        Assert.Equal(new float[] { -6.4f, -6.4f, 6.4f, 6.4f, -8, -8, 8, 8 }, sized.data<float>().ToArray());
        Assert.Throws<HpfDetException>(() => new AnchorGeneratorOptions().Scaled(0));
    }
}
