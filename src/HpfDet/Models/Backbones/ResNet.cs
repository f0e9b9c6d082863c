using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HpfDet.Models.Backbones;

/// <summary>
/// ResNet backbone in torchvision's layout and parameter names (conv1, bn1, layer1..layer4 of blocks
/// "0", "1", … with conv1/bn1/conv2/bn2[/conv3/bn3]/downsample.0/downsample.1), without the
/// classifier, so that <c>state_dict()</c> keys equal torchvision's minus fc.*. The forward pass returns
/// the outputs of layer2, layer3 and layer4 (C3, C4, C5; strides 8, 16, 32).
/// </summary>
public sealed class ResNet : nn.Module<Tensor, Tensor[]>
{
    // Field names are the state-dict names (torchvision's).
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly MaxPool2d maxpool;
    private readonly Sequential layer1;
    private readonly Sequential layer2;
    private readonly Sequential layer3;
    private readonly Sequential layer4;

    /// <summary>Creates a randomly initialised ResNet (torchvision's initialisation).</summary>
    public ResNet(ResNetOptions? options = null) : base(nameof(ResNet))
    {
        Options = options ?? new ResNetOptions();
        BlocksPerStage = Options.BlocksPerStage ?? DefaultBlocksPerStage(Options.Depth);
        if (BlocksPerStage.Length != 4 || BlocksPerStage.Any(b => b < 1))
            throw new HpfDetException(
                $"ResNetOptions.BlocksPerStage = [{string.Join(", ", BlocksPerStage)}]: give 4 stage sizes, each at least 1 (e.g. [2, 2, 2, 2]).");
        if (Options.FrozenStages < -1 || Options.FrozenStages > 4)
            throw new HpfDetException(
                $"ResNetOptions.FrozenStages = {Options.FrozenStages}: use -1 (none), 0 (stem) or 1..4 (stem and layer1..layerk).");

        bool bottleneck = Options.Depth is ResNetDepth.R50 or ResNetDepth.R101;
        int expansion = bottleneck ? Bottleneck.Expansion : BasicBlock.Expansion;

        conv1 = nn.Conv2d(3, 64, 7, stride: 2, padding: 3, bias: false);
        bn1 = nn.BatchNorm2d(64);
        maxpool = nn.MaxPool2d(3, stride: 2, padding: 1);
        int inChannels = 64;
        var stages = new Sequential[4];
        for (int s = 0; s < 4; s++)
        {
            int planes = 64 << s;
            int stride = s == 0 ? 1 : 2;
            var blocks = new (string, nn.Module<Tensor, Tensor>)[BlocksPerStage[s]];
            for (int b = 0; b < blocks.Length; b++)
            {
                nn.Module<Tensor, Tensor> block = bottleneck
                    ? new Bottleneck(inChannels, planes, b == 0 ? stride : 1)
                    : new BasicBlock(inChannels, planes, b == 0 ? stride : 1);
                blocks[b] = (b.ToString(System.Globalization.CultureInfo.InvariantCulture), block);
                inChannels = planes * expansion;
            }
            stages[s] = nn.Sequential(blocks);
        }
        (layer1, layer2, layer3, layer4) = (stages[0], stages[1], stages[2], stages[3]);
        OutChannels = [128 * expansion, 256 * expansion, 512 * expansion];
        RegisterComponents();
        ResNetInit.Initialize(this);
        FreezeStages();
        train(true);
    }

    /// <summary>The options this model was built with.</summary>
    public ResNetOptions Options { get; }

    /// <summary>Residual blocks in layer1..layer4.</summary>
    public int[] BlocksPerStage { get; }

    /// <summary>Channels of C3, C4, C5: [128, 256, 512] for R18/R34, [512, 1024, 2048] for R50/R101.</summary>
    public int[] OutChannels { get; }

    /// <summary>Strides of C3, C4, C5 relative to the input: [8, 16, 32].</summary>
    public int[] OutStrides { get; } = [8, 16, 32];

    /// <summary>torchvision's blocks per stage for a depth.</summary>
    public static int[] DefaultBlocksPerStage(ResNetDepth depth) => depth switch
    {
        ResNetDepth.R18 => [2, 2, 2, 2],
        ResNetDepth.R34 => [3, 4, 6, 3],
        ResNetDepth.R50 => [3, 4, 6, 3],
        ResNetDepth.R101 => [3, 4, 23, 3],
        _ => throw new HpfDetException($"ResNetOptions.Depth = {depth}: use R18, R34, R50 or R101."),
    };

    /// <summary>
    /// The ImageNet ResNet-18 shipped as ONNX in the Microsoft.ML.DnnImageFeaturizer.ResNet18 package
    /// (stages of [2, 2, 2, 3] basic blocks). Its input convention is BGR, 0–255, minus
    /// <see cref="PretrainedWeights.ImageNetOnnxMeanBgr"/>. <paramref name="onnxPath"/> null searches the
    /// usual places (<see cref="PretrainedWeights.FindResNet18Onnx"/>).
    /// </summary>
    public static ResNet FromImageNetOnnx(string? onnxPath = null, ResNetOptions? options = null)
    {
        options ??= new ResNetOptions();
        options = options with { Depth = ResNetDepth.R18, BlocksPerStage = options.BlocksPerStage ?? PretrainedWeights.ImageNetOnnxBlocksPerStage };
        var model = new ResNet(options);
        try
        {
            PretrainedWeights.LoadResNet18Onnx(model, onnxPath);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return model;
    }

    /// <summary>Stem and stage modules in forward order (index 0 = stem conv/bn, 1..4 = layer1..layer4).</summary>
    internal IEnumerable<IResNetBlock> Blocks =>
        new[] { layer1, layer2, layer3, layer4 }.SelectMany(l => l.children().Cast<IResNetBlock>());

    internal (Conv2d Conv, BatchNorm2d Norm) Stem => (conv1, bn1);

    // Set by FoldNorms (inference): the stem's convolution with its BatchNorm folded in.
    private FoldedConvNorm? foldedStem;

    /// <summary>Whether <see cref="FoldNorms"/> has folded the BatchNorms.</summary>
    internal bool NormsFolded => foldedStem is not null;

    /// <summary>
    /// For inference with frozen statistics: every convolution + BatchNorm pair (stem, blocks, shortcuts) runs
    /// from now on as one convolution with the BatchNorm folded in, the folded weights computed in float64 and
    /// stored in <paramref name="dtype"/>; a pass over the activations fewer per pair. Only valid in evaluation
    /// mode (forward refuses training mode afterwards); the modules' own weights are unchanged.
    /// </summary>
    internal void FoldNorms(ScalarType dtype, bool channelsLast)
    {
        if (foldedStem is not null) throw new InvalidOperationException("The backbone's BatchNorms are already folded.");
        foldedStem = FoldedConvNorm.Of(conv1, bn1, dtype, channelsLast, "Folding the backbone's conv1");
        foreach (var block in Blocks) block.FoldNorms(dtype, channelsLast);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) foldedStem?.Dispose();
        base.Dispose(disposing);
    }

    /// <summary>[N, 3, H, W] → [C3 [N, c3, H/8, W/8], C4 [N, c4, H/16, W/16], C5 [N, c5, H/32, W/32]]
    /// (sizes rounded up by each stride-2 stage).</summary>
    public override Tensor[] forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        if (foldedStem is not null && training)
            throw new InvalidOperationException("The backbone's BatchNorms are folded for inference; it cannot run in training mode.");
        var x = maxpool.forward(nn.functional.relu(foldedStem is null ? bn1.forward(conv1.forward(input)) : foldedStem.Forward(input)));
        x = layer1.forward(x);
        var c3 = layer2.forward(x);
        var c4 = layer3.forward(c3);
        var c5 = layer4.forward(c4);
        return [c3.MoveToOuterDisposeScope(), c4.MoveToOuterDisposeScope(), c5.MoveToOuterDisposeScope()];
    }

    /// <summary>
    /// Sets training mode, then keeps frozen stages in eval mode and, with NormEval, every BatchNorm in
    /// eval mode so that running statistics never change.
    /// </summary>
    public override void train(bool on = true)
    {
        base.train(on);
        if (!on) return;
        foreach (var frozen in FrozenModules())
            frozen.eval();
        if (Options.NormEval)
        {
            foreach (var module in modules())
                if (module is BatchNorm2d norm) norm.eval();
        }
    }

    IEnumerable<nn.Module> FrozenModules()
    {
        if (Options.FrozenStages >= 0)
        {
            yield return conv1;
            yield return bn1;
        }
        var stages = new nn.Module[] { layer1, layer2, layer3, layer4 };
        for (int s = 0; s < Options.FrozenStages; s++)
            yield return stages[s];
    }

    void FreezeStages()
    {
        foreach (var module in FrozenModules())
            foreach (var p in module.parameters())
                p.requires_grad = false;
        if (!Options.NormAffineTrainable)
            foreach (var module in modules())
                if (module is BatchNorm2d norm)
                    foreach (var p in norm.parameters())
                        p.requires_grad = false;
    }
}
