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
}
