using HpfDet.Losses;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Losses;

public class DistributionFocalLossTests
{
    // Three bins (R = 2) with logits (0, ln 2, 0): softmax p = (1/4, 1/2, 1/4).
    static Tensor Logits(int rows) => tensor(Enumerable.Repeat(new[] { 0.0, Math.Log(2), 0.0 }, rows).SelectMany(r => r).ToArray()).reshape(rows, 3);

    [Fact]
    public void ATargetBetweenTwoBinsWeighsBothCrossEntropiesByCloseness()
    {
        using var scope = NewDisposeScope();
        // y = 0.3 lies between bins 0 and 1: 0.7·CE(bin 0) + 0.3·CE(bin 1) = 0.7·ln 4 + 0.3·ln 2
        //   = 0.7·1.38629436 + 0.3·0.69314718 = 0.97040605 + 0.20794415 = 1.17835020.
        // y = 1 is bin 1 alone: ln 2 = 0.6931472.  y = 2 (= R) is bin 2 alone: ln 4 = 1.3862944.
        var loss = DistributionFocalLoss.Elementwise(Logits(3), tensor(new[] { 0.3, 1.0, 2.0 })).data<double>().ToArray();
        Assert.Equal(1.1783502, loss[0], 6);
        Assert.Equal(0.6931472, loss[1], 6);
        Assert.Equal(1.3862944, loss[2], 6);
    }

    [Fact]
    public void ForwardWeighsNormalisesAndScalesAndItsGradientIsSoftmaxMinusTheTwoBinTarget()
    {
        using var scope = NewDisposeScope();
        var logits = Logits(2).requires_grad_();
        // 0.25 · (1·1.17835020 + 0.5·0.69314718) / 2 = 0.25 · 1.52492379 / 2 = 0.19061547.
        var loss = new DistributionFocalLoss().Forward(logits, tensor(new[] { 0.3, 1.0 }), tensor(new[] { 1.0, 0.5 }), tensor(2.0));
        Assert.Equal(0.19061547, loss.item<double>(), 7);
        loss.backward();
        // d/dlogits of row 0's loss = p - target distribution = (1/4 - 0.7, 1/2 - 0.3, 1/4 - 0) = (-0.45, 0.2, 0.25),
        // times weight 1 · 0.25 / 2 = 0.125: (-0.05625, 0.025, 0.03125).
        var g = logits.grad!.data<double>().ToArray();
        Assert.Equal(-0.05625, g[0], 9);
        Assert.Equal(0.025, g[1], 9);
        Assert.Equal(0.03125, g[2], 9);
    }

    [Fact]
    public void MismatchedShapesAreRejected()
    {
        using var scope = NewDisposeScope();
        Assert.Throws<ArgumentException>(() => DistributionFocalLoss.Elementwise(Logits(2), tensor(new[] { 0.3 })));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DistributionFocalLoss(-1));
    }
}
