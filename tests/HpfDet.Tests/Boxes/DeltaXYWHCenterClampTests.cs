using HpfDet.Boxes;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Boxes;

/// <summary>The delta coder's centre clamp (mmdetection's add_ctr_clamp), as YOLOF configures it.</summary>
public class DeltaXYWHCenterClampTests
{
    [Fact]
    public void TheCentreShiftIsClampedAndDwDhOnlyFromAbove()
    {
        using var scope = NewDisposeScope();
        var coder = new DeltaXYWHBoxCoder(DeltaXYWHBoxCoderOptions.Yolof());
        var anchor = tensor(new float[] { 0, 0, 10, 10 }).reshape(1, 4);   // centre (5, 5), 10×10
        // dx = 10 → shift 100 px, clamped to 32 → cx 37; dy = -5 → -50, clamped to -32 → cy -27;
        // dw = -10 is not clamped from below → w = 10·e^-10 = 4.54e-4; dh = 0 → h = 10.
        var box = coder.Decode(anchor, tensor(new float[] { 10, -5, -10, 0 }).reshape(1, 4)).data<float>().ToArray();
        double halfW = 5 * Math.Exp(-10);
        Assert.Equal(37 - halfW, box[0], 4);
        Assert.Equal(-27 - 5, box[1], 4);
        Assert.Equal(37 + halfW, box[2], 4);
        Assert.Equal(-27 + 5, box[3], 4);
        // dw = 10 is clamped from above to |ln 0.016| = 4.1351666 → w = 625.
        var wide = coder.Decode(anchor, tensor(new float[] { 0, 0, 10, 0 }).reshape(1, 4)).data<float>().ToArray();
        Assert.Equal(5 - 312.5, wide[0], 2);
        Assert.Equal(5 + 312.5, wide[2], 2);
        // Without the clamp the same deltas move the centre by the full 100 px.
        var free = new DeltaXYWHBoxCoder(DeltaXYWHBoxCoderOptions.Yolof() with { CenterClamp = null })
            .Decode(anchor, tensor(new float[] { 10, 0, 0, 0 }).reshape(1, 4)).data<float>().ToArray();
        Assert.Equal(new float[] { 100, 0, 110, 10 }, free);
    }

    [Fact]
    public void EncodeThenDecodeReturnsTheGroundTruthWithinTheClamp()
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(3);
        var coder = new DeltaXYWHBoxCoder(DeltaXYWHBoxCoderOptions.Yolof());
        // Anchors 32..96 px; gt centres within ±30 px of the anchor's and sizes within ×(0.5..2): inside both clamps.
        var centre = rand(400, 2, generator: generator).mul(200);
        var size = rand(400, 2, generator: generator).mul(64).add(32);
        var anchors = cat([centre - size / 2, centre + size / 2], 1);
        var gtCentre = centre + rand(400, 2, generator: generator).mul(60).sub(30);
        var gtSize = size * rand(400, 2, generator: generator).mul(1.5).add(0.5);
        var gt = cat([gtCentre - gtSize / 2, gtCentre + gtSize / 2], 1);
        var decoded = coder.Decode(anchors, coder.Encode(anchors, gt));
        var maxError = (decoded - gt).abs().max().item<float>();
        Assert.True(maxError < 1e-3f, $"max |decode(encode(gt)) - gt| = {maxError}");
    }

    [Fact]
    public void ANonPositiveCentreClampIsRefused()
    {
        Assert.Throws<HpfDetException>(() => new DeltaXYWHBoxCoder(DeltaXYWHBoxCoderOptions.Yolof() with { CenterClamp = 0 }));
    }
}
