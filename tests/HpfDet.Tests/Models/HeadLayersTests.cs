using HpfDet.Models;
using HpfDet.Models.Heads;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Models;

/// <summary>The heads' shared tower and initialisation.</summary>
public class HeadLayersTests
{
    [Fact]
    public void Tower_keeps_mmdetection_state_dict_keys_and_shapes()
    {
        using var generator = new torch.Generator(1);
        using var tower = new ConvTower(inChannels: 8, channels: 16, count: 2, groups: 4);
        HeadInit.NormalConvs(tower, generator);   // TorchSharp leaves GroupNorm's affine parameters uninitialised (NaN possible)
        var keys = tower.state_dict().Keys.ToHashSet();
        Assert.Equal(new HashSet<string> { "0.conv.weight", "0.gn.weight", "0.gn.bias", "1.conv.weight", "1.gn.weight", "1.gn.bias" }, keys);
        Assert.Equal(16, tower.OutChannels);
        using var x = torch.randn(2, 8, 5, 7, generator: generator);
        using var y = tower.call(x);
        Assert.Equal(new long[] { 2, 16, 5, 7 }, y.shape);
        Assert.True(y.min().item<float>() >= 0); // ends in a ReLU

        using var plain = new ConvTower(inChannels: 8, channels: 16, count: 1, groups: null);
        Assert.Equal(new HashSet<string> { "0.conv.weight", "0.conv.bias" }, plain.state_dict().Keys.ToHashSet());
        using var empty = new ConvTower(inChannels: 8, channels: 16, count: 0, groups: 4);
        Assert.Equal(8, empty.OutChannels);
        using var same = empty.call(x);
        Assert.Equal(0, same.sub(x).abs().max().item<float>());
        Assert.Throws<ArgumentOutOfRangeException>(() => new ConvTower(8, 18, 1, 4));
    }

    [Fact]
    public void NormalConvs_draws_from_the_generator_it_is_given_not_the_global_one()
    {
        using var scope = torch.NewDisposeScope();
        Tensor Draw(long globalSeed)
        {
            torch.manual_seed(globalSeed);
            using var generator = new torch.Generator(3);
            var tower = new ConvTower(inChannels: 8, channels: 16, count: 1, groups: 4);
            HeadInit.NormalConvs(tower, generator);
            return tower.state_dict()["0.conv.weight"].clone();
        }
        Assert.True(Draw(101).equal(Draw(202)).all().item<bool>(), "the same generator seed gave different weights");
    }

    [Fact]
    public void Initialisation_is_normal_convs_zero_biases_identity_norms_and_the_prior_bias()
    {
        using var head = new AtssHead(new AtssHeadOptions(NumClasses: 3, InChannels: 64, FeatChannels: 64, StackedConvs: 2, NumGroups: 8, NumLevels: 2));
        foreach (var (name, p) in head.named_parameters())
        {
            if (name == "atss_cls.bias") continue; // the prior, below
            if (name.StartsWith("scales")) Assert.Equal(1f, p.item<float>()); // left as built
            else if (name.EndsWith("bias")) Assert.Equal(0f, p.abs().max().item<float>());
            else if (p.dim() == 1) Assert.Equal(1f, p.min().item<float>());
            else
            {
                // Normal(0, 0.01). A tower conv has 64·64·9 = 36864 draws: its sample std is within 3% of 0.01
                // (the standard error is 0.4%); a predictor has at least 64·1·9 = 576 (3% standard error): within 15%.
                double tolerance = name.Contains("_convs.") ? 0.03 : 0.15;
                Assert.InRange(p.std().item<float>(), 0.01 * (1 - tolerance), 0.01 * (1 + tolerance));
                Assert.InRange(p.mean().item<float>(), -0.002, 0.002);
            }
        }
        // The classifier's bias makes every initial score the prior: sigmoid(b) = 0.01, b = -ln(99) = -4.59512.
        var bias = head.named_parameters().Single(np => np.name == "atss_cls.bias").parameter;
        Assert.Equal(-Math.Log(99), bias.mean().item<float>(), 4);
        Assert.Equal(0f, bias.max().sub(bias.min()).item<float>());
    }
}
