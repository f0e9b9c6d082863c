using HpfDet.Boxes;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Boxes;

public class DeltaXYWHBoxCoderTests
{
    [Fact]
    public void EncodeMatchesHandValues()
    {
        using var scope = NewDisposeScope();
        var coder = new DeltaXYWHBoxCoder();
        // anchor [0,0,10,10]: centre (5,5), 10x10. gt [2,2,12,14]: centre (7,8), 10x12.
        // dx = 2/10 = 0.2, dy = 3/10 = 0.3, dw = ln 1 = 0, dh = ln 1.2; / (0.1, 0.1, 0.2, 0.2)
        // → (2, 3, 0, ln(1.2)/0.2 = 0.9116078).
        var d = coder.Encode(tensor(new float[] { 0, 0, 10, 10 }).reshape(1, 4), tensor(new float[] { 2, 2, 12, 14 }).reshape(1, 4));
        var v = d.data<float>().ToArray();
        Assert.Equal(2.0, v[0], 5);
        Assert.Equal(3.0, v[1], 5);
        Assert.Equal(0.0, v[2], 5);
        Assert.Equal(0.9116078, v[3], 5);
    }

    [Fact]
    public void DecodeClampsLogRatioAndClipsToImage()
    {
        using var scope = NewDisposeScope();
        var coder = new DeltaXYWHBoxCoder();
        var anchor = tensor(new float[] { 0, 0, 10, 10 }).reshape(1, 4);
        // dw = 100 * 0.2 = 20 is clamped to |ln(16/1000)| = 4.1351666 → w = 10 * 1000/16 = 625, centred at 5.
        var boxes = coder.Decode(anchor, tensor(new float[] { 0, 0, 100, 0 }).reshape(1, 4)).data<float>().ToArray();
        Assert.Equal(5 - 312.5, boxes[0], 2);
        Assert.Equal(5 + 312.5, boxes[2], 2);
        Assert.Equal(0.0, boxes[1], 5);
        Assert.Equal(10.0, boxes[3], 5);
        var clipped = coder.Decode(anchor, tensor(new float[] { 0, 0, 100, 0 }).reshape(1, 4), (H: 8, W: 50)).data<float>().ToArray();
        Assert.Equal(new float[] { 0, 0, 50, 8 }, clipped);
    }

    [Fact]
    public void EncodeThenDecodeReturnsTheGroundTruth()
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(1);
        var coder = new DeltaXYWHBoxCoder(new DeltaXYWHBoxCoderOptions(Means: [0.1, -0.2, 0.0, 0.05], Stds: [0.1, 0.1, 0.2, 0.2]));
        var anchors = RandomBoxes(500, generator);
        var gt = RandomBoxes(500, generator);
        var decoded = coder.Decode(anchors, coder.Encode(anchors, gt));
        var maxError = (decoded - gt).abs().max().item<float>();
        Assert.True(maxError < 1e-4f, $"max |decode(encode(gt)) - gt| = {maxError}");
    }

    [Fact]
    public void DecodeBroadcastsOverABatchOfDeltas()
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(2);
        var coder = new DeltaXYWHBoxCoder();
        var anchors = RandomBoxes(7, generator);
        var zeroDeltas = zeros(3, 7, 4);
        var decoded = coder.Decode(anchors, zeroDeltas);
        Assert.Equal(new long[] { 3, 7, 4 }, decoded.shape);
        // Zero deltas decode to the anchors themselves.
        Assert.True((decoded - anchors.unsqueeze(0)).abs().max().item<float>() < 1e-4f);
    }

    private static Tensor RandomBoxes(int n, Generator generator)
    {
        var xy = rand(n, 2, generator: generator) * 100;
        var wh = rand(n, 2, generator: generator) * 50 + 1;
        return cat(new[] { xy, xy + wh }, 1);
    }

    [Fact]
    public void TorchvisionCoderClampsTheLogRatioFromAboveOnly()
    {
        using var scope = NewDisposeScope();
        var coder = new DeltaXYWHBoxCoder(DeltaXYWHBoxCoderOptions.Torchvision());
        var anchor = tensor(new double[] { 0, 0, 10, 10 }, dtype: float64).reshape(1, 4);
        // Weights 1: dw = 100 is clamped to ln(1000/16) → w = 10·62.5 = 625 around x = 5; dh = -10 is kept → h = 10·e^-10.
        var box = coder.Decode(anchor, tensor(new double[] { 0, 0, 100, -10 }, dtype: float64).reshape(1, 4)).data<double>().ToArray();
        double h = 10 * Math.Exp(-10);
        Assert.Equal(new[] { 5 - 312.5, 5 - h / 2, 5 + 312.5, 5 + h / 2 }, box, new ToleranceComparer(1e-9));
        // The symmetric default would have clamped dh to -ln(1000/16): h = 10·0.016 = 0.16.
        var symmetric = new DeltaXYWHBoxCoder(new DeltaXYWHBoxCoderOptions(Stds: [1.0, 1.0, 1.0, 1.0]));
        var clamped = symmetric.Decode(anchor, tensor(new double[] { 0, 0, 0, -10 }, dtype: float64).reshape(1, 4)).data<double>().ToArray();
        Assert.Equal(5 - 0.08, clamped[1], 9);
    }

    sealed class ToleranceComparer(double tolerance) : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= tolerance;
        public int GetHashCode(double obj) => 0;
    }
}
