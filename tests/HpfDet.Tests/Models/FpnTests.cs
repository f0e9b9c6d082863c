using HpfDet.Models.Backbones;
using HpfDet.Models.Necks;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Models;

public class FpnTests
{
    [Theory]
    // 320x320: C3..C5 at 40, 20, 10; P6 = ⌊(10 + 2 − 3)/2⌋ + 1 = 5; P7 = ⌊(5 + 2 − 3)/2⌋ + 1 = 3.
    [InlineData(320, 320, new long[] { 40, 20, 10, 5, 3 }, new long[] { 40, 20, 10, 5, 3 })]
    // 256x384: heights 32, 16, 8, P6 4, P7 2; widths 48, 24, 12, P6 6, P7 3.
    [InlineData(256, 384, new long[] { 32, 16, 8, 4, 2 }, new long[] { 48, 24, 12, 6, 3 })]
    public void ResNet18FpnGivesFiveLevels(int height, int width, long[] heights, long[] widths)
    {
        using var generator = new torch.Generator(1);
        torch.manual_seed(5);
        using var backbone = new ResNet(new ResNetOptions(ResNetDepth.R18));
        using var fpn = new Fpn(new FpnOptions(backbone.OutChannels));
        backbone.eval();
        fpn.eval();
        using var noGrad = torch.no_grad();
        using var x = torch.randn(1, 3, height, width, generator: generator);
        var features = backbone.forward(x);
        var levels = fpn.forward(features);
        Assert.Equal(5, levels.Length);
        for (int i = 0; i < 5; i++)
            Assert.Equal(new long[] { 1, 256, heights[i], widths[i] }, levels[i].shape);
        foreach (var t in features.Concat(levels)) t.Dispose();
    }

    [Fact]
    public void ExtraConvsOnTheInputReadTheLastBackboneMap()
    {
        // add_extra_convs='on_input': one 2-channel input C; P0 = lateral (channel 0) through a centre-tap output conv;
        // the first extra conv (2 → 1 channels) takes channel 1 of C itself, the second P1, with no ReLU between.
        using var fpn = new Fpn(new FpnOptions([2], OutChannels: 1, NumOutputs: 3, ExtraConvsOnInput: true));
        using (torch.no_grad())
        {
            foreach (var (name, p) in fpn.named_parameters())
            {
                p.zero_();
                if (name == "lateral_convs.0.weight") p[0, 0, 0, 0] = torch.tensor(1f);
                else if (name == "fpn_convs.1.weight") { Assert.Equal(2, p.shape[1]); p[0, 1, 1, 1] = torch.tensor(1f); }
                else if (name.EndsWith("weight")) p[0, 0, 1, 1] = torch.tensor(1f);
            }
        }
        using var c = torch.cat([torch.arange(16f).reshape(1, 1, 4, 4), torch.arange(16f).add(1).neg().reshape(1, 1, 4, 4)], 1);
        var outputs = fpn.forward([c]);
        Assert.Equal(Enumerable.Range(0, 16).Select(i => (float)i).ToArray(), outputs[0].data<float>().ToArray());
        // Stride 2, centre tap: channel 1 at (0, 0), (0, 2), (2, 0), (2, 2) = −1, −3, −9, −11; then P1 at (0, 0) = −1, kept negative.
        Assert.Equal(new float[] { -1, -3, -9, -11 }, outputs[1].data<float>().ToArray());
        Assert.Equal(new float[] { -1 }, outputs[2].data<float>().ToArray());
        foreach (var o in outputs) o.Dispose();
    }

    [Fact]
    public void TopDownAddsNearestUpsampledCoarserLevel()
    {
        // One channel everywhere; lateral 1x1 convs = identity, 3x3 output convs = centre tap 1, so
        // P4 = C4 and P3 = C3 + nearest-upsample(C4) to C3's size, computed by hand below.
        using var fpn = new Fpn(new FpnOptions([1, 1], OutChannels: 1, NumOutputs: 3));
        using (torch.no_grad())
        {
            foreach (var (name, p) in fpn.named_parameters())
            {
                p.zero_();
                if (name.EndsWith("weight") && p.shape[2] == 1) p.fill_(1f);
                else if (name.EndsWith("weight")) p[0, 0, 1, 1] = torch.tensor(1f);
            }
        }
        using var c3 = torch.arange(12f).reshape(1, 1, 3, 4);
        using var c4 = torch.tensor(new float[] { 10, 20, 30, 40 }).reshape(1, 1, 2, 2);
        var outputs = fpn.forward([c3, c4]);
        // Nearest 2x2 → 3x4: source row ⌊r·2/3⌋ = 0, 0, 1; column ⌊c·2/4⌋ = 0, 0, 1, 1.
        float[] upsampled = [10, 10, 20, 20, 10, 10, 20, 20, 30, 30, 40, 40];
        var expectedP3 = Enumerable.Range(0, 12).Select(i => i + upsampled[i]).ToArray();
        Assert.Equal(expectedP3, outputs[0].data<float>().ToArray());
        Assert.Equal(new float[] { 10, 20, 30, 40 }, outputs[1].data<float>().ToArray());
        // P5 = 3x3 stride-2 conv (centre tap) of P4: samples P4[0, 0] only → 1x1 = 10.
        Assert.Equal(new long[] { 1, 1, 1, 1 }, outputs[2].shape);
        Assert.Equal(10f, outputs[2].item<float>());
        foreach (var o in outputs) o.Dispose();
    }

    [Fact]
    public void ReluBeforeExtraConvsAppliesOnlyBeforeTheSecondExtraLevel()
    {
        // Identity-like convs with a negative bias on P6: P7 = conv(relu(P6)) must clip, conv(P6) must not.
        float RunP7(bool relu)
        {
            using var fpn = new Fpn(new FpnOptions([1], OutChannels: 1, NumOutputs: 3, ReluBeforeExtraConvs: relu));
            using (torch.no_grad())
            {
                foreach (var (name, p) in fpn.named_parameters())
                {
                    p.zero_();
                    if (name.EndsWith("weight") && p.shape[2] == 1) p.fill_(1f);
                    else if (name.EndsWith("weight")) p[0, 0, 1, 1] = torch.tensor(1f);
                }
                fpn.named_parameters().Single(p => p.name == "fpn_convs.1.bias").parameter.fill_(-100f);
            }
            using var c = torch.ones(1, 1, 4, 4);
            var outputs = fpn.forward([c]);
            var p7 = outputs[2].max().item<float>();
            foreach (var o in outputs) o.Dispose();
            return p7;
        }
        Assert.Equal(-99f, RunP7(false)); // P6 = 1 − 100 = −99; P7 = centre tap of P6.
        Assert.Equal(0f, RunP7(true));
    }

    [Fact]
    public void ConvWeightsAreXavierUniformWithZeroBias()
    {
        torch.manual_seed(6);
        using var fpn = new Fpn(new FpnOptions([128, 256, 512]));
        var parameters = fpn.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        // Xavier-uniform bound √(6 / (fan_in + fan_out)): lateral 0 is 1x1 128→256, bound √(6/384) = 0.125.
        var w = parameters["lateral_convs.0.weight"];
        Assert.True(w.abs().max().item<float>() <= 0.125f);
        Assert.True(w.abs().max().item<float>() > 0.12f);
        // fpn conv 3x3 256→256: fan = 2304 each, bound √(6/4608) ≈ 0.0361.
        Assert.True(parameters["fpn_convs.4.weight"].abs().max().item<float>() <= MathF.Sqrt(6f / 4608f));
        Assert.Equal(0f, parameters["fpn_convs.3.bias"].abs().sum().item<float>());
        Assert.Equal(3 + 5, parameters.Keys.Count(k => k.EndsWith(".weight")));
    }
}
