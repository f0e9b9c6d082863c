using HpfDet.Boxes;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Boxes;

public class LogDistanceBoxCoderTests
{
    // A level-0 prior: a square of base edge 16 centred on the cell centre (20, 20).
    static Tensor Prior() => tensor(new float[] { 12, 12, 28, 28 }).reshape(1, 4);

    [Fact]
    public void EncodeIsTheLogOfTheSideDistancesOverTheEdgeClamped()
    {
        // Box (4, 10, 52, 21): l = 20 − 4 = 16 → 16/16 = 1 → 0; t = 20 − 10 = 10 → 0.625 → ln 0.625 = −0.4700036;
        // r = 52 − 20 = 32 → 2 → ln 2 = 0.6931472; b = 21 − 20 = 1 → 1/16 → ln(1/16) = −2.7725887.
        // Box (19.5, −300, 300, 20): l = 0.5 → 1/32, below 1/16 → ln(1/16); t = 320 → 20, above 16 → ln 16 = 2.7725887;
        // r = 280 → 17.5 → ln 16; b = 0 → ln(1/16) (a side behind the centre clamps too).
        var boxes = tensor(new float[] { 4, 10, 52, 21, 19.5f, -300, 300, 20 }).reshape(2, 4);
        var codes = new LogDistanceBoxCoder().Encode(Prior(), boxes).data<float>().ToArray();
        float[] expected = [0, -0.4700036f, 0.6931472f, -2.7725887f, -2.7725887f, 2.7725887f, 2.7725887f, -2.7725887f];
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], codes[i], 5);
    }

    [Fact]
    public void DecodeIsCentreMinusAndPlusEdgeTimesExp()
    {
        // Codes (0, ln 0.5, ln 2, ln 3) on the prior centred at (20, 20), edge 16: distances 16, 8, 32, 48 →
        // (20 − 16, 20 − 8, 20 + 32, 20 + 48) = (4, 12, 52, 68).
        var codes = tensor(new float[] { 0, (float)Math.Log(0.5), (float)Math.Log(2), (float)Math.Log(3) }).reshape(1, 4);
        var box = new LogDistanceBoxCoder().Decode(Prior(), codes).data<float>().ToArray();
        float[] expected = [4, 12, 52, 68];
        for (int i = 0; i < 4; i++) Assert.Equal(expected[i], box[i], 4);
    }

    [Fact]
    public void DecodeInvertsEncodeWithinTheClampAndEncodeInvertsDecode()
    {
        using var scope = NewDisposeScope();
        var coder = new LogDistanceBoxCoder();
        using var generator = new Generator(7);
        // Priors of every base edge 16 … 256 at assorted centres.
        var edges = tensor(new float[] { 16, 32, 64, 128, 256 }).repeat(40);                              // [200]
        var centres = rand([200, 2], generator: generator).mul(500);
        var priors = cat([centres.sub(edges.unsqueeze(1).div(2)), centres.add(edges.unsqueeze(1).div(2))], 1);
        // Side distances with ratios to the edge inside [1/16, 16]: exp of uniform codes in [−2.7, 2.7].
        var codes = rand([200, 4], generator: generator).mul(5.4).sub(2.7);
        var boxes = coder.Decode(priors, codes);
        var again = coder.Encode(priors, boxes);
        Assert.True(again.allclose(codes, rtol: 0, atol: 1e-4), $"max code error {again.sub(codes).abs().max().item<float>()}");
        var boxesAgain = coder.Decode(priors, again);
        Assert.True(boxesAgain.allclose(boxes, rtol: 1e-5, atol: 1e-3), $"max box error {boxesAgain.sub(boxes).abs().max().item<float>()}");
    }

    [Fact]
    public void WorksOnBatchedShapes()
    {
        // [B, N, 4] priors and boxes, as the detector's training batch gives them.
        var priors = Prior().reshape(1, 1, 4).expand(2, 3, 4);
        var boxes = tensor(new float[] { 4, 10, 52, 21 }).reshape(1, 1, 4).expand(2, 3, 4);
        var codes = new LogDistanceBoxCoder().Encode(priors, boxes);
        Assert.Equal([2L, 3, 4], codes.shape);
        Assert.True(new LogDistanceBoxCoder().Decode(priors, codes).allclose(boxes, rtol: 0, atol: 1e-4));
    }
}
