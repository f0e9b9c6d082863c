using HpfDet.Models;
using HpfDet.Models.Backbones;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Models;

public class ChannelsLastTests
{
    [Fact]
    public void OfKeepsShapeAndValuesAndGivesNhwcStrides()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.arange(2 * 3 * 4 * 5, dtype: ScalarType.Float32).reshape(2, 3, 4, 5);
        var cl = ChannelsLast.Of(x);
        Assert.Equal(new long[] { 2, 3, 4, 5 }, cl.shape);
        // NHWC-dense strides of [2, 3, 4, 5]: N 4·5·3 = 60, C 1, H 5·3 = 15, W 3.
        Assert.Equal(new long[] { 60, 1, 15, 3 }, cl.stride());
        Assert.True(ChannelsLast.Is(cl));
        Assert.False(ChannelsLast.Is(x));
        Assert.Equal(x.data<float>().ToArray(), cl.contiguous().data<float>().ToArray());
    }

    [Fact]
    public void AConvertedConvolutionGivesTheSameOutputAndGradients()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator(1);
        torch.manual_seed(3);
        var conv = nn.Conv2d(8, 16, 3, padding: 1);
        var x = torch.randn(2, 8, 9, 7, generator: generator);
        var w = torch.randn(2, 16, 9, 7, generator: generator);
        var reference = conv.call(x);
        reference.mul(w).sum().backward();
        var referenceGrad = conv.weight!.grad!.clone();
        conv.weight.grad!.zero_();

        ChannelsLast.Convert(conv);
        Assert.True(ChannelsLast.Is(conv.weight!));
        var xl = ChannelsLast.Of(x);
        var output = conv.call(xl);
        output.mul(w).sum().backward();
        Assert.True(output.allclose(reference, rtol: 1e-4, atol: 1e-5), "channels-last output differs");
        Assert.True(conv.weight.grad!.allclose(referenceGrad, rtol: 1e-4, atol: 1e-4), "channels-last weight gradient differs");
    }

    // ResNet-18 only: ResNet-50 in channels-last crashes libtorch 2.10 with two threads (a native fault
    // somewhere in its stages), which is why inference does not use channels-last by default.
    [Theory]
    [InlineData(ResNetDepth.R18, 96, 128)]
    [InlineData(ResNetDepth.R18, 96, 160)]
    public void AChannelsLastResNetGivesTheSameFeaturesAndGradients(ResNetDepth depth, int height, int width)
    {
        // The last stage's 1×1 shortcut (256 → 512, batch 2) sees 6×8 and 6×10, then 3×4 and 3×5 after
        // subsampling: shapes where libtorch's own channels-last 1×1 convolution is wrong, strided or not
        // (see ShortcutConvolution). Features are compared in float32, the layout inference runs in. Gradients
        // (bf16 training runs channels-last) are compared in float64, where both layouts are exact, so that
        // the check is of the layout code here and not of libtorch's float32 kernels: on this test's input,
        // libtorch 2.10's float32 channels-last weight gradient of layer2.0.conv1 (3×3, stride 2) is 1.2% off a
        // float64 reference (max 3.6 on a range of 93) where the contiguous layout is within 7e-7 — a kernel
        // error of the library's float32 path, not ours, and below bfloat16's own error (9% in either layout).
        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator(2);
        var x = torch.randn(2, 3, height, width, generator: generator);
        ResNet Build()
        {
            using var initGenerator = new torch.Generator(5);
            using var initScope = InitGenerator.Use(initGenerator);
            var built = new ResNet(new ResNetOptions(depth, BlocksPerStage: [1, 1, 1, 1]));
            built.eval();
            return built;
        }

        var model = Build();
        var expected = model.call(x);
        var channelsLast = Build();
        ChannelsLast.Convert(channelsLast);
        var actual = channelsLast.call(ChannelsLast.Of(x));
        for (int i = 0; i < expected.Length; i++)
        {
            double diff = (actual[i] - expected[i]).abs().max().item<float>(), range = expected[i].abs().max().item<float>();
            Assert.True(diff <= 1e-4 * Math.Max(1, range), $"stage output {i}: channels-last differs by {diff} (range {range})");
        }

        var g = expected.Select(e => torch.randn(e.shape, generator: generator, dtype: ScalarType.Float64)).ToArray();
        Dictionary<string, Tensor> Gradients(bool layout)
        {
            var m = Build();
            m.to(ScalarType.Float64);
            if (layout) ChannelsLast.Convert(m);
            var input = x.to(ScalarType.Float64);
            var outputs = m.call(layout ? ChannelsLast.Of(input) : input);
            outputs.Zip(g).Select(p => p.First.mul(p.Second).sum()).Aggregate((a, b) => a + b).backward();
            return m.named_parameters().Where(p => p.parameter.grad is not null).ToDictionary(p => p.name, p => p.parameter.grad!);
        }
        var expectedGrads = Gradients(layout: false);
        var actualGrads = Gradients(layout: true);
        Assert.Contains("layer4.0.downsample.0.weight", expectedGrads.Keys);
        Assert.Equal(expectedGrads.Keys.Order(), actualGrads.Keys.Order());
        foreach (var (name, reference) in expectedGrads)
        {
            double diff = (actualGrads[name] - reference).abs().max().item<double>(), range = reference.abs().max().item<double>();
            Assert.True(diff <= 1e-9 * Math.Max(1, range), $"{name}: channels-last gradient differs by {diff} (range {range})");
        }
    }

    [Fact]
    public void OfRefusesTensorsThatAreNotFourDimensional() =>
        Assert.Throws<ArgumentException>(() => ChannelsLast.Of(torch.zeros(3, 4)));
}
