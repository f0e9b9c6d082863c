using HpfDet.Models;
using HpfDet.Models.Backbones;
using HpfDet.Models.Necks;
using TorchSharp;

namespace HpfDet.Tests.Models;

public class InitGeneratorTests
{
    [Fact]
    public void AScopedGeneratorGivesTheSameWeightsWhateverTheGlobalGeneratorHolds()
    {
        using var scope = torch.NewDisposeScope();
        (ResNet, Fpn) Build(ulong seed, long globalSeed)
        {
            torch.manual_seed(globalSeed);
            using var generator = new torch.Generator(seed);
            using var _ = InitGenerator.Use(generator);
            var backbone = new ResNet(new ResNetOptions(ResNetDepth.R18, BlocksPerStage: [1, 1, 1, 1]));
            return (backbone, new Fpn(new FpnOptions(backbone.OutChannels, OutChannels: 32)));
        }
        var (backboneA, fpnA) = Build(3, 101);
        var (backboneB, fpnB) = Build(3, 202);
        var (backboneC, _) = Build(4, 101);
        foreach (var ((name, a), (_, b)) in backboneA.named_parameters().Concat(fpnA.named_parameters())
                     .Zip(backboneB.named_parameters().Concat(fpnB.named_parameters())))
            Assert.True(a.equal(b).all().item<bool>(), $"{name} differs between two builds with generator seed 3");
        Assert.False(backboneA.named_parameters().First().parameter.equal(backboneC.named_parameters().First().parameter).all().item<bool>());
        Assert.Null(InitGenerator.Current);
    }

    [Fact]
    public void ScopesNestAndRestoreTheOuterGenerator()
    {
        using var outer = new torch.Generator(1);
        using var inner = new torch.Generator(2);
        using (InitGenerator.Use(outer))
        {
            using (InitGenerator.Use(inner)) Assert.Same(inner, InitGenerator.Current);
            Assert.Same(outer, InitGenerator.Current);
        }
        Assert.Null(InitGenerator.Current);
    }

    [Fact]
    public void ResNetAndFpnKeepTheirInitialisationScales()
    {
        // torchvision's ResNet: Kaiming-normal with fan_out and ReLU gain, std = √(2 / (O·k·k)); a 512×512×3×3
        // weight has std √(2 / 4608) = 0.020833. The FPN: Xavier-uniform, bound √(6 / ((I + O)·k·k)); its
        // 3×3 output conv at 256 channels has bound √(6 / 4608) = 0.0360844, std bound / √3 = 0.020833.
        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator(5);
        using var _ = InitGenerator.Use(generator);
        var backbone = new ResNet(new ResNetOptions(ResNetDepth.R18, BlocksPerStage: [1, 1, 1, 1]));
        var fpn = new Fpn(new FpnOptions(backbone.OutChannels));
        var resnetWeight = backbone.named_parameters().Single(p => p.name == "layer4.0.conv2.weight").parameter;
        Assert.Equal(0.020833, resnetWeight.std().item<float>(), 0.0002);
        Assert.Equal(0.0, resnetWeight.mean().item<float>(), 0.0002);
        var fpnWeight = fpn.named_parameters().First(p => p.parameter.dim() == 4 && p.parameter.shape[2] == 3).parameter;
        Assert.Equal([256L, 256, 3, 3], fpnWeight.shape);
        Assert.True(fpnWeight.abs().max().item<float>() <= 0.0360845f);
        Assert.True(fpnWeight.abs().max().item<float>() > 0.0360f);
        Assert.Equal(0.020833, fpnWeight.std().item<float>(), 0.0002);
    }
}
