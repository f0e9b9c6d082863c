using HpfDet.Boxes;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Boxes;

public class LinearBoxCoderTests
{
    static readonly Tensor Priors = tensor(new double[] { 0, 0, 8, 8, 8, 8, 24, 24 }).reshape(2, 4);
    static readonly Tensor Boxes = tensor(new double[] { 1, 2, 9, 7, 4, 10, 30, 20 }).reshape(2, 4);

    [Fact]
    public void EncodesSideDistancesOverThePriorSize()
    {
        // prior 0: centre (4, 4), size 8 → ((4−1)/8, (4−2)/8, (9−4)/8, (7−4)/8) = (0.375, 0.25, 0.625, 0.375);
        // prior 1: centre (16, 16), size 16 → (12/16, 6/16, 14/16, 4/16) = (0.75, 0.375, 0.875, 0.25).
        var codes = new LinearBoxCoder().Encode(Priors, Boxes).data<double>().ToArray();
        Assert.Equal(new[] { 0.375, 0.25, 0.625, 0.375, 0.75, 0.375, 0.875, 0.25 }, codes);
        var raw = new LinearBoxCoder(normalizeBySize: false).Encode(Priors, Boxes).data<double>().ToArray();
        Assert.Equal(new[] { 3.0, 2, 5, 3, 12, 6, 14, 4 }, raw);
    }

    [Fact]
    public void DecodeInvertsEncode()
    {
        foreach (var coder in new[] { new LinearBoxCoder(), new LinearBoxCoder(false) })
        {
            var back = coder.Decode(Priors, coder.Encode(Priors, Boxes));
            Assert.Equal(Boxes.data<double>().ToArray(), back.data<double>().ToArray());
        }
    }
}
