using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests;

/// <summary>Proves the patched libtorch loads on this machine and runs a real convolution.</summary>
public class TorchRuntimeTests
{
    [Fact]
    public void ConvolutionForwardAndBackwardRun()
    {
        torch.manual_seed(0);
        using var x = torch.ones(1, 1, 4, 4, requires_grad: true);
        using var conv = nn.Conv2d(1, 1, 3, padding: 1, bias: false);
        using (torch.no_grad())
        {
            conv.weight!.fill_(1.0f);
        }
        using var y = conv.forward(x);
        // Hand calculation: a 3x3 box filter of ones over ones with zero padding gives 4 at the
        // corners, 6 on the edges and 9 inside; their sum over the 4x4 map is 4*4 + 8*6 + 4*9 = 100.
        Assert.Equal(100.0f, y.sum().item<float>(), 5);
        y.sum().backward();
        // d(sum y)/dx(i,j) = number of output windows that cover (i,j): same 4/6/9 pattern.
        var g = x.grad!.reshape(16).data<float>().ToArray();
        float[] expected = [4, 6, 6, 4, 6, 9, 9, 6, 6, 9, 9, 6, 4, 6, 6, 4];
        Assert.Equal(expected, g);
    }

    [Fact]
    public void ConvolutionGradientsAreCorrectAfterTheRuntimeCheck()
    {
        // Whatever this CPU's oneDNN does, after the check a float32 convolution's input gradient
        // must equal the float64 transposed convolution (computed without oneDNN).
        var check = HpfDet.TorchRuntime.EnsureCorrectConvolutions(HpfDet.OneDnnMode.Auto);
        double error = HpfDet.TorchRuntime.ProbeBackwardError();
        Assert.True(error < 1e-3, $"input-gradient error {error} with oneDNN {(check.OneDnnEnabled ? "on" : "off")} (probe before: {check.BackwardError})");
    }

    [Fact]
    public void TheRuntimeCheckSwitchesNnpackOffSoSingleImageConvolutionsDoNotWarn()
    {
        // libtorch enables NNPACK by default; on CPUs it refuses, every batch-1 convolution oneDNN
        // skips logged "Could not initialize NNPACK" (36 lines for one `hpfdet detect` image).
        HpfDet.TorchRuntime.EnsureCorrectConvolutions();
        Assert.False(HpfDet.TorchRuntime.NnpackEnabled());
        using var scope = torch.NewDisposeScope();
        var x = torch.ones(1, 4, 3, 3);
        var y = nn.functional.conv2d(x, torch.ones(2, 4, 3, 3), padding: [1, 1]);
        Assert.Equal(36.0, y[0, 1, 1, 1].item<float>(), 5);   // 4 channels × 9 taps of ones
        Assert.Equal(16.0, y[0, 0, 0, 0].item<float>(), 5);   // corner: 4 channels × 4 taps
    }

    [Theory]
    [InlineData(6, 8)]
    [InlineData(36, 4)]
    [InlineData(1, 2)]
    public void APaddedPredictorHasTheValuesAndGradientsOfAPlainFloat64Convolution(int outChannels, int size)
    {
        HpfDet.TorchRuntime.EnsureCorrectConvolutions();
        var gen = new Generator(11);
        using var conv = new HpfDet.Models.PaddedOutputConv2d(32, outChannels);
        using var x = torch.randn(2, 32, size, size, generator: gen);
        using var upstream = torch.randn(2, outChannels, size, size, generator: gen);
        using var x32 = x.clone().requires_grad_(true);
        var y32 = conv.call(x32);
        y32.backward([upstream]);
        using var x64 = x.to(float64).requires_grad_(true);
        using var w64 = conv.Weight.detach().to(float64).requires_grad_(true);
        using var b64 = conv.Bias.detach().to(float64).requires_grad_(true);
        var y64 = nn.functional.conv2d(x64, w64, b64, padding: [1, 1]);
        y64.backward([upstream.to(float64)]);
        Assert.Equal(new long[] { 2, outChannels, size, size }, y32.shape);
        Assert.True(y32.to(float64).sub(y64).abs().max().item<double>() < 1e-4);
        Assert.True(x32.grad!.to(float64).sub(x64.grad!).abs().max().item<double>() < 1e-4);
        Assert.True(conv.Weight.grad!.to(float64).sub(w64.grad!).abs().max().item<double>() < 1e-3);
        Assert.True(conv.Bias.grad!.to(float64).sub(b64.grad!).abs().max().item<double>() < 1e-3);
        Assert.Equal(["weight", "bias"], conv.named_parameters().Select(p => p.name).ToArray());
    }

    /// <summary>
    /// bf16 training runs the predictors in bfloat16, channels-last: unpadded, libtorch 2.10's oneDNN gave this
    /// 256→1 convolution input gradients of 1e30 (and wrong ones at every level size); padded, they are within
    /// bfloat16's precision of float64.
    /// </summary>
    [Theory]
    [InlineData(1, 48, 64)]
    [InlineData(1, 6, 8)]
    [InlineData(4, 24, 32)]
    public void ABFloat16PaddedPredictorHasTheInputGradientOfAFloat64Convolution(int outChannels, int height, int width)
    {
        HpfDet.TorchRuntime.EnsureCorrectConvolutions();
        var gen = new Generator(13);
        using var conv = new HpfDet.Models.PaddedOutputConv2d(256, outChannels);
        conv.to(ScalarType.BFloat16);
        HpfDet.Models.ChannelsLast.Convert(conv);
        for (int repeat = 0; repeat < 3; repeat++)
        {
            using var scope = NewDisposeScope();
            var x = torch.randn([2, 256, height, width], generator: gen);
            var upstream = torch.randn([2, outChannels, height, width], generator: gen);
            var x16 = HpfDet.Models.ChannelsLast.Of(x.to(ScalarType.BFloat16)).detach().requires_grad_(true);
            conv.call(x16).backward([upstream.to(ScalarType.BFloat16)]);
            var x64 = x16.detach().to(float64).requires_grad_(true);
            nn.functional.conv2d(x64, conv.Weight.detach().to(float64), conv.Bias.detach().to(float64), padding: [1, 1]).backward([upstream.to(ScalarType.BFloat16).to(float64)]);
            double error = x16.grad!.to(float64).sub(x64.grad!).abs().max().item<double>() / x64.grad!.abs().max().item<double>();
            Assert.True(error < 2e-2, $"repeat {repeat}: relative input-gradient error {error:E2}");
            conv.Weight.grad?.zero_();
            conv.Bias.grad?.zero_();
        }
    }
}
