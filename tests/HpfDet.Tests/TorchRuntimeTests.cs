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
    public void ATinyHeadsGradientMatchesFloat64()
    {
        // The failure seen on a Zen 5 CPU: a 64→6 3×3 convolution's float32 input gradient came out wrong
        // or NaN. Checked here through autograd against the same graph in float64.
        HpfDet.TorchRuntime.EnsureCorrectConvolutions();
        var gen = new Generator(7);
        using var x = torch.randn(2, 64, 8, 8, generator: gen);
        using var w = torch.randn(6, 64, 3, 3, generator: gen).mul_(0.05);
        using var x32 = x.clone().requires_grad_(true);
        using var x64 = x.to(float64).requires_grad_(true);
        nn.functional.conv2d(x32, w, padding: [1, 1]).sigmoid().sum().backward();
        nn.functional.conv2d(x64, w.to(float64), padding: [1, 1]).sigmoid().sum().backward();
        double error = x32.grad!.to(float64).sub(x64.grad!).abs().max().item<double>();
        Assert.True(error < 1e-4, $"max |float32 − float64| of the input gradient: {error}");
    }
}
