using HpfDet.Models;
using HpfDet.Models.Backbones;
using HpfDet.Training;
using TorchSharp;
using static HpfDet.Tests.Infrastructure.TensorAssert;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HpfDet.Tests.Models;

public class ResNetTests
{
    // torchvision's resnet18 state dict has 122 entries: the stem (conv1.weight + bn1's weight, bias,
    // running_mean, running_var, num_batches_tracked = 6), 8 BasicBlocks of conv1 + bn1 + conv2 + bn2
    // (1 + 5 + 1 + 5 = 12 each, 96), downsample.0/.1 in layer2..layer4 (3 x 6 = 18), and fc.weight, fc.bias.
    // Without fc: 6 + 96 + 18 = 120.
    const int ResNet18KeysWithoutFc = 120;

    // resnet50: stem 6, 16 Bottlenecks of 3 conv + 3 bn (3 x 6 = 18 each, 288), downsample in all four
    // stages (4 x 6 = 24), fc 2 → 320 entries; without fc 318.
    const int ResNet50KeysWithoutFc = 318;

    [Fact]
    public void ResNet18StateDictKeysAreTorchvisionNames()
    {
        using var model = new ResNet(new ResNetOptions(ResNetDepth.R18));
        var keys = model.state_dict().Keys.ToHashSet();
        Assert.Equal(ResNet18KeysWithoutFc, keys.Count);
        string[] expected =
        [
            "conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked",
            "layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.conv2.weight", "layer1.1.bn2.running_var",
            "layer2.0.downsample.0.weight", "layer2.0.downsample.1.weight", "layer2.0.downsample.1.num_batches_tracked",
            "layer3.1.conv2.weight", "layer4.0.downsample.0.weight", "layer4.1.bn2.bias",
        ];
        foreach (var key in expected) Assert.Contains(key, keys);
        string[] absent = ["layer1.0.downsample.0.weight", "layer4.2.conv1.weight", "layer1.0.conv3.weight", "fc.weight"];
        foreach (var key in absent) Assert.DoesNotContain(key, keys);
        // Every key is torchvision-shaped: stem, or layerS.B.(convK|bnK|downsample.0|downsample.1).tensor.
        var pattern = new System.Text.RegularExpressions.Regex(
            @"^((conv1|bn1)|layer[1-4]\.[0-9]+\.(conv[12]|bn[12]|downsample\.[01]))\.(weight|bias|running_mean|running_var|num_batches_tracked)$");
        Assert.All(keys, k => Assert.Matches(pattern, k));
    }

    [Fact]
    public void ResNet50StateDictKeysAreTorchvisionNames()
    {
        using var model = new ResNet(new ResNetOptions(ResNetDepth.R50));
        var state = model.state_dict();
        Assert.Equal(ResNet50KeysWithoutFc, state.Count);
        // Bottleneck v1.5: conv1 1x1 (256 → 64 in layer1.1), conv2 3x3 carries the stride, conv3 1x1 expands x4.
        Assert.Equal(new long[] { 64, 256, 1, 1 }, state["layer1.1.conv1.weight"].shape);
        Assert.Equal(new long[] { 128, 128, 3, 3 }, state["layer2.0.conv2.weight"].shape);
        Assert.Equal(new long[] { 2048, 512, 1, 1 }, state["layer4.2.conv3.weight"].shape);
        Assert.Equal(new long[] { 256, 64, 1, 1 }, state["layer1.0.downsample.0.weight"].shape);
        Assert.Equal(new long[] { 1024 }, state["layer3.5.bn3.running_mean"].shape);
        Assert.False(state.ContainsKey("layer3.6.conv1.weight"));
        Assert.False(state.ContainsKey("layer1.1.downsample.0.weight"));
    }

    [Fact]
    public void ResNet18OutputsC3C4C5AtStrides8To32()
    {
        using var generator = new torch.Generator(1);
        using var initGenerator = new torch.Generator(1);
        using var initScope = InitGenerator.Use(initGenerator);
        using var model = new ResNet(new ResNetOptions(ResNetDepth.R18));
        model.eval();
        using var x = torch.randn(1, 3, 64, 96, generator: generator);
        var outputs = model.forward(x);
        // 64x96 → conv1 (s2) 32x48 → maxpool (s2) 16x24 → layer2 8x12, layer3 4x6, layer4 2x3.
        Assert.Equal(new long[] { 1, 128, 8, 12 }, outputs[0].shape);
        Assert.Equal(new long[] { 1, 256, 4, 6 }, outputs[1].shape);
        Assert.Equal(new long[] { 1, 512, 2, 3 }, outputs[2].shape);
        Assert.Equal([128, 256, 512], model.OutChannels);
        foreach (var o in outputs) o.Dispose();
    }

    [Fact]
    public void ResNet50OutputChannelsOnTinyInput()
    {
        using var generator = new torch.Generator(2);
        using var initGenerator = new torch.Generator(2);
        using var initScope = InitGenerator.Use(initGenerator);
        using var model = new ResNet(new ResNetOptions(ResNetDepth.R50));
        model.eval();
        using var x = torch.randn(1, 3, 64, 96, generator: generator);
        using var noGrad = torch.no_grad();
        var outputs = model.forward(x);
        Assert.Equal(new long[] { 1, 512, 8, 12 }, outputs[0].shape);
        Assert.Equal(new long[] { 1, 1024, 4, 6 }, outputs[1].shape);
        Assert.Equal(new long[] { 1, 2048, 2, 3 }, outputs[2].shape);
        Assert.Equal([512, 1024, 2048], model.OutChannels);
        foreach (var o in outputs) o.Dispose();
    }

    [Fact]
    public void FrozenStagesGetNoGradientAndNormEvalKeepsRunningStats()
    {
        using var generator = new torch.Generator(3);
        using var initGenerator = new torch.Generator(3);
        using var initScope = InitGenerator.Use(initGenerator);
        using var model = new ResNet(new ResNetOptions(ResNetDepth.R18, FrozenStages: 1, NormEval: true));
        model.train();
        var state = model.state_dict();
        using var meanBefore = state["layer3.0.bn1.running_mean"].clone();
        using var varBefore = state["layer2.1.bn2.running_var"].clone();
        using var x = torch.randn(2, 3, 64, 64, generator: generator);
        var outputs = model.forward(x);
        using var loss = outputs[2].sum();
        loss.backward();

        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var key in new[] { "conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "layer1.1.bn2.bias" })
        {
            Assert.False(parameters[key].requires_grad, key);
            Assert.Null(parameters[key].grad);
        }
        foreach (var key in new[] { "layer2.0.conv1.weight", "layer3.1.bn2.weight", "layer4.0.downsample.0.weight" })
        {
            Assert.True(parameters[key].requires_grad, key);
            Assert.NotNull(parameters[key].grad);
        }
        Assert.Equal(meanBefore.data<float>().ToArray(), state["layer3.0.bn1.running_mean"].data<float>().ToArray());
        Assert.Equal(varBefore.data<float>().ToArray(), state["layer2.1.bn2.running_var"].data<float>().ToArray());
        Assert.All(model.modules().OfType<BatchNorm2d>(), bn => Assert.False(bn.training));
        foreach (var o in outputs) o.Dispose();
    }

    [Fact]
    public void FrozenNormAffineGetsNoGradientWhileConvolutionsTrain()
    {
        // YOLOF's recipe: every BatchNorm's weight and bias stays pretrained; the unfrozen convolutions still learn.
        using var generator = new torch.Generator(5);
        using var initGenerator = new torch.Generator(5);
        using var initScope = InitGenerator.Use(initGenerator);
        using var model = new ResNet(new ResNetOptions(ResNetDepth.R18, FrozenStages: 1, NormEval: true, NormAffineTrainable: false));
        model.train();
        using var x = torch.randn(2, 3, 64, 64, generator: generator);
        var outputs = model.forward(x);
        using var loss = outputs[2].sum();
        loss.backward();

        var named = model.named_parameters().ToList();
        // 20 BatchNorms in the [2, 2, 2, 2] ResNet-18 (stem 1, 8 blocks × 2, 3 downsamples), a weight and a bias each.
        var norms = named.Where(p => p.name.Contains("bn") || p.name.Contains("downsample.1")).ToList();
        Assert.Equal(40, norms.Count);
        Assert.All(norms, p => { Assert.False(p.parameter.requires_grad, p.name); Assert.Null(p.parameter.grad); });
        foreach (var key in new[] { "layer2.0.conv1.weight", "layer3.1.conv2.weight", "layer4.0.downsample.0.weight" })
        {
            var parameter = named.Single(p => p.name == key).parameter;
            Assert.True(parameter.requires_grad, key);
            Assert.NotNull(parameter.grad);
        }
        foreach (var o in outputs) o.Dispose();
    }

    [Fact]
    public void BackboneNormTrainableReachesTheDetectorsBackbone()
    {
        var config = new RunConfig();
        config.Model.Pretrained = false;
        config.Model.BackboneNormTrainable = false;
        using var detector = config.BuildDetector(numClasses: 3, loadPretrained: false);
        var backboneNorms = detector.Backbone.modules().OfType<BatchNorm2d>().SelectMany(m => m.parameters()).ToList();
        Assert.NotEmpty(backboneNorms);
        Assert.All(backboneNorms, p => Assert.False(p.requires_grad));
        // The rest of the detector is untouched by the option.
        Assert.Contains(detector.named_parameters(), p => !p.name.StartsWith("backbone.") && p.parameter.requires_grad);
    }

    [Fact]
    public void WithoutNormEvalTrainingForwardUpdatesRunningStats()
    {
        // The control for the test above: the same forward pass does move the statistics when BN trains.
        using var generator = new torch.Generator(4);
        using var initGenerator = new torch.Generator(4);
        using var initScope = InitGenerator.Use(initGenerator);
        using var model = new ResNet(new ResNetOptions(ResNetDepth.R18, FrozenStages: -1, NormEval: false));
        model.train();
        var state = model.state_dict();
        using var meanBefore = state["layer3.0.bn1.running_mean"].clone();
        using var x = torch.randn(2, 3, 64, 64, generator: generator);
        var outputs = model.forward(x);
        Assert.False(TensorsEqual(meanBefore, state["layer3.0.bn1.running_mean"]));
        Assert.True(model.named_parameters().All(p => p.parameter.requires_grad));
        foreach (var o in outputs) o.Dispose();
    }

    [Fact]
    public void EvalThenTrainRestoresTrainingOutsideFrozenParts()
    {
        using var model = new ResNet(new ResNetOptions(ResNetDepth.R18, FrozenStages: 0, NormEval: false));
        model.eval();
        Assert.All(model.modules().OfType<BatchNorm2d>(), bn => Assert.False(bn.training));
        model.train();
        var norms = model.named_modules().Where(m => m.module is BatchNorm2d).ToDictionary(m => m.name, m => m.module);
        Assert.False(norms["bn1"].training);
        Assert.True(norms["layer1.0.bn1"].training);
        Assert.True(norms["layer4.1.bn2"].training);
    }

    sealed class Wrapper : nn.Module<Tensor, Tensor[]>
    {
        private readonly ResNet backbone;

        public Wrapper(ResNet backbone) : base(nameof(Wrapper))
        {
            this.backbone = backbone;
            RegisterComponents();
        }

        public override Tensor[] forward(Tensor input) => backbone.forward(input);
    }

    [Fact]
    public void NormEvalHoldsWhenAParentModuleTrains()
    {
        // A detector calls train() on itself, not on the backbone: the override must still take effect.
        using var wrapper = new Wrapper(new ResNet(new ResNetOptions(ResNetDepth.R18, FrozenStages: 1, NormEval: true)));
        wrapper.eval();
        wrapper.train();
        Assert.True(wrapper.training);
        var modules = wrapper.named_modules().ToDictionary(m => m.name, m => m.module);
        Assert.True(modules["backbone.layer2"].training);
        Assert.All(wrapper.modules().OfType<BatchNorm2d>(), bn => Assert.False(bn.training));
        Assert.False(modules["backbone.layer1"].training);
    }

    [Fact]
    public void BadBlocksPerStageIsAUserError()
    {
        var e = Assert.Throws<HpfDetException>(() => new ResNet(new ResNetOptions(BlocksPerStage: [2, 2, 2])));
        Assert.Contains("BlocksPerStage", e.Message);
    }
    [Theory]
    [InlineData(ResNetDepth.R18, false)]
    [InlineData(ResNetDepth.R18, true)]
    [InlineData(ResNetDepth.R50, false)]
    public void FoldedBatchNormsGiveTheOutputsOfTheUnfoldedBackbone(ResNetDepth depth, bool channelsLast)
    {
        // The reference is libtorch's own eval-mode batch_norm after each convolution; every BatchNorm gets
        // random statistics and affine parameters, so that a fold that skipped or mis-scaled any pair would show.
        using var scope = torch.NewDisposeScope();
        var generator = new Generator(2026);
        var blocks = depth == ResNetDepth.R50 ? new[] { 1, 1, 1, 1 } : null;
        using var model = new ResNet(new ResNetOptions(depth, BlocksPerStage: blocks));
        using (torch.no_grad())
            foreach (var module in model.modules())
                if (module is BatchNorm2d norm)
                {
                    long c = norm.running_mean!.shape[0];
                    norm.running_mean.copy_(torch.randn(c, generator: generator).mul_(0.5));
                    norm.running_var!.copy_(torch.rand(c, generator: generator).add_(0.25));
                    norm.weight!.copy_(torch.rand(c, generator: generator).add_(0.5));
                    norm.bias!.copy_(torch.randn(c, generator: generator).mul_(0.2));
                }
        model.eval();
        var images = torch.randn(2, 3, 96, 160, generator: generator);
        using var _ = torch.no_grad();
        var reference = model.forward(images);
        model.FoldNorms(ScalarType.Float32, channelsLast);
        if (channelsLast) ChannelsLast.Convert(model);
        var folded = model.forward(channelsLast ? ChannelsLast.Of(images) : images);
        Assert.True(model.NormsFolded);
        for (int i = 0; i < 3; i++)
        {
            double range = reference[i].abs().max().item<float>();
            double diff = (folded[i] - reference[i]).abs().max().item<float>();
            Assert.True(range > 0.1, $"C{i + 3} is degenerate (range {range})");
            Assert.True(diff <= 1e-4 * range + 1e-5, $"C{i + 3}: folded differs by {diff} (range {range})");
        }
        model.train();
        Assert.Throws<InvalidOperationException>(() => model.forward(images));
    }
}
