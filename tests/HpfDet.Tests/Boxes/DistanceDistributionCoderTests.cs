using HpfDet.Boxes;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Boxes;

public class DistanceDistributionCoderTests
{
    [Fact]
    public void EncodesSideDistancesInStridesClampedBelowRegMax()
    {
        using var scope = NewDisposeScope();
        var coder = new DistanceDistributionCoder(regMax: 16, clampEps: 0.1);
        // Centre (20, 30), stride 8, box (4, 14, 52, 38): (16/8, 16/8, 32/8, 8/8) = (2, 2, 4, 1).
        // Centre (20, 30), stride 8, box (-200, 40, 52, 38): l = 220/8 = 27.5 → 16 - 0.1 = 15.9; t = -10/8 → 0;
        // r = 4, b = 1.
        var centres = tensor(new double[] { 20, 30, 20, 30 }).reshape(2, 2);
        var boxes = tensor(new double[] { 4, 14, 52, 38, -200, 40, 52, 38 }).reshape(2, 4);
        var d = coder.Encode(centres, boxes, tensor(new double[] { 8, 8 })).data<double>().ToArray();
        Assert.Equal(new[] { 2.0, 2, 4, 1 }, d[..4]);
        Assert.Equal(15.9, d[4], 12);
        Assert.Equal(new[] { 0.0, 4, 1 }, d[5..]);
    }

    [Fact]
    public void TheIntegralIsEachSidesExpectedBin()
    {
        using var scope = NewDisposeScope();
        var coder = new DistanceDistributionCoder(regMax: 16);
        // Zero logits: uniform over 0..16, expectation 8. Logit 30 on bin 3 of every side: ≈ 3 (the others weigh e^-30).
        var uniform = coder.Integral(zeros(1, 68, dtype: ScalarType.Float64)).data<double>().ToArray();
        Assert.All(uniform, v => Assert.Equal(8.0, v, 10));
        var peaked = zeros(1, 4, 17, dtype: ScalarType.Float64);
        peaked[.., .., 3] = tensor(30.0, dtype: ScalarType.Float64);
        Assert.All(coder.Integral(peaked.reshape(1, 68)).data<double>().ToArray(), v => Assert.Equal(3.0, v, 9));
        Assert.Throws<ArgumentException>(() => coder.Integral(zeros(1, 64)));
    }

    [Fact]
    public void TheTwoBinTargetDistributionSplitsEachDistanceBetweenItsNeighbours()
    {
        using var scope = NewDisposeScope();
        var coder = new DistanceDistributionCoder(regMax: 4);
        // 1.875 → 0.125 on bin 1 and 0.875 on bin 2; 0 → bin 0; 3.9 → 0.1 on bin 3, 0.9 on bin 4; 4 (= R) → bin 4.
        var t = coder.TargetDistribution(tensor(new double[] { 1.875, 0, 3.9, 4 })).data<double>().ToArray();
        double[] expected = [0, 0.125, 0.875, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0.1, 0.9, 0, 0, 0, 0, 1];
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], t[i], 12);
    }

    [Fact]
    public void DecodingTheTargetDistributionOfEncodedBoxesGivesTheBoxesBack()
    {
        using var scope = NewDisposeScope();
        var coder = new DistanceDistributionCoder(regMax: 16);
        // Anchors of stride 8 and 32 (side 8·stride); boxes within 15.9 strides of their centres.
        var anchors = tensor(new double[] { -32, -32, 32, 32, 0, 64, 256, 320 }).reshape(2, 4);
        var strides = tensor(new double[] { 8, 32 });
        var boxes = tensor(new double[] { -5, -14.8, 52, 38, 13, 140.5, 500, 330 }).reshape(2, 4);
        var centres = DistanceDistributionCoder.Centres(anchors);
        Assert.Equal(new[] { 0.0, 0, 128, 192 }, centres.data<double>().ToArray());
        var distances = coder.Encode(centres, boxes, strides);
        // log of the two-bin distribution as logits (empty bins at log 1e-30): its softmax is the distribution again.
        var logits = coder.TargetDistribution(distances).clamp_min(1e-30).log().reshape(2, 68);
        var back = coder.Decode(centres, logits, strides).data<double>().ToArray();
        var expected = boxes.data<double>().ToArray();
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], back[i], 9);
        var direct = DistanceDistributionCoder.DecodeDistances(centres, distances, strides).data<double>().ToArray();
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], direct[i], 9);
    }
}
