using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HpfDet.Models.Backbones;

/// <summary>
/// torchvision's Bottleneck (ResNet v1.5: the stride sits on the 3x3 convolution): 1x1 reduce, 3x3,
/// 1x1 expand (x4), plus an identity or 1x1 conv + BN shortcut.
/// </summary>
internal sealed class Bottleneck : nn.Module<Tensor, Tensor>, IResNetBlock
{
    internal const int Expansion = 4;

    // Field names are the state-dict names (torchvision's).
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly Conv2d conv2;
    private readonly BatchNorm2d bn2;
    private readonly Conv2d conv3;
    private readonly BatchNorm2d bn3;
    private readonly Sequential? downsample;
    private readonly Conv2d? downsampleConv;
    private readonly BatchNorm2d? downsampleNorm;

    internal Bottleneck(int inChannels, int planes, int stride) : base(nameof(Bottleneck))
    {
        conv1 = nn.Conv2d(inChannels, planes, 1, bias: false);
        bn1 = nn.BatchNorm2d(planes);
        conv2 = nn.Conv2d(planes, planes, 3, stride: stride, padding: 1, bias: false);
        bn2 = nn.BatchNorm2d(planes);
        conv3 = nn.Conv2d(planes, planes * Expansion, 1, bias: false);
        bn3 = nn.BatchNorm2d(planes * Expansion);
        Conv2d? shortcutConv = null;
        BatchNorm2d? shortcutNorm = null;
        if (stride != 1 || inChannels != planes * Expansion)
        {
            shortcutConv = nn.Conv2d(inChannels, planes * Expansion, 1, stride: stride, bias: false);
            shortcutNorm = nn.BatchNorm2d(planes * Expansion);
            downsample = nn.Sequential(("0", shortcutConv), ("1", shortcutNorm));
        }
        RegisterComponents();
        // Assigned after registration so that these aliases of downsample.0/.1 get no state-dict names.
        downsampleConv = shortcutConv;
        downsampleNorm = shortcutNorm;
        ResNetInit.Initialize(this);
    }

    public IReadOnlyList<(Conv2d Conv, BatchNorm2d Norm)> MainBranch => [(conv1, bn1), (conv2, bn2), (conv3, bn3)];

    public (Conv2d Conv, BatchNorm2d Norm)? Shortcut =>
        downsampleConv is null ? null : (downsampleConv, downsampleNorm!);

    // Set by FoldNorms (inference): the MainBranch pairs and the shortcut as convolutions with the BatchNorm folded in.
    private FoldedBlockNorms? folded;

    public void FoldNorms(ScalarType dtype, bool channelsLast)
    {
        if (folded is not null) throw new InvalidOperationException("The block's BatchNorms are already folded.");
        folded = FoldedBlockNorms.Of(this, dtype, channelsLast);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) folded?.Dispose();
        base.Dispose(disposing);
    }

    /// <summary>[N, Cin, H, W] → [N, 4·planes, H/stride, W/stride].</summary>
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = nn.functional.relu(folded is null ? bn1.forward(conv1.forward(input)) : folded.Main[0].Forward(input));
        x = nn.functional.relu(folded is null ? bn2.forward(conv2.forward(x)) : folded.Main[1].Forward(x));
        x = folded is null ? bn3.forward(conv3.forward(x)) : folded.Main[2].Forward(x);
        var identity = downsample is null ? input
            : folded is null ? downsampleNorm!.forward(ShortcutConvolution.Forward(downsampleConv!, input))
            : ShortcutConvolution.Forward(downsampleConv!, input, folded.Shortcut);
        return nn.functional.relu(x.add_(identity, ScalarConstants.One)).MoveToOuterDisposeScope();
    }
}
