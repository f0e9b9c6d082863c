using HpfDet.Boxes;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Boxes;

public class TblrBoxCoderTests
{
    // Square priors of side = stride: side 16 centred at (32, 32), side 8 centred at (4, 4).
    static readonly Tensor Priors = tensor(new double[] { 24, 24, 40, 40, 0, 0, 8, 8 }).reshape(2, 4);
    static readonly Tensor Boxes = tensor(new double[] { 16, 20, 48, 52, 1, 2, 9, 7 }).reshape(2, 4);

    [Fact]
    public void EncodesTopBottomLeftRightOverFourTimesThePriorSide()
    {
        // prior 0: centre (32, 32), side 16, normaliser 4 → divide by 64:
        //   t = 32−20 = 12 → 0.1875, b = 52−32 = 20 → 0.3125, l = 32−16 = 16 → 0.25, r = 48−32 = 16 → 0.25.
        // prior 1: centre (4, 4), side 8 → divide by 32: t = 2 → 0.0625, b = 3 → 0.09375, l = 3 → 0.09375, r = 5 → 0.15625.
        var codes = new TblrBoxCoder().Encode(Priors, Boxes).data<double>().ToArray();
        Assert.Equal(new[] { 0.1875, 0.3125, 0.25, 0.25, 0.0625, 0.09375, 0.09375, 0.15625 }, codes);
        // Normaliser 1: divide by the side alone (prior 0: 12/16, 20/16, 16/16, 16/16).
        Assert.Equal(new[] { 0.75, 1.25, 1, 1 }, new TblrBoxCoder(1.0).Encode(Priors, Boxes)[0].data<double>().ToArray());
    }

    [Fact]
    public void DecodeInvertsEncode()
    {
        foreach (var coder in new[] { new TblrBoxCoder(), new TblrBoxCoder(1.0) })
        {
            var back = coder.Decode(Priors, coder.Encode(Priors, Boxes));
            Assert.Equal(Boxes.data<double>().ToArray(), back.data<double>().ToArray());
        }
        // Random boxes around random square priors, in float32: the round trip holds to rounding.
        using var generator = new Generator(3);
        var centre = rand(100, 2, generator: generator).mul(200);
        var side = rand(100, 1, generator: generator).mul(120).add(8);
        var priors = cat([centre.sub(side.div(2)), centre.add(side.div(2))], 1);
        var boxes = cat([centre.sub(rand(100, 2, generator: generator).mul(90)), centre.add(rand(100, 2, generator: generator).mul(90))], 1);
        var tblr = new TblrBoxCoder();
        Assert.True(tblr.Decode(priors, tblr.Encode(priors, boxes)).allclose(boxes, rtol: 1e-5, atol: 1e-3));
    }
}
