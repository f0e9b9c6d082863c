using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Models.Heads;

/// <summary>
/// One branch of a dense head: stacked 3×3 conv (+ GroupNorm) + ReLU blocks, mmdetection's ConvModule stack.
/// Its blocks are children "0", "1", ..., each with "conv" and "gn": the state-dict keys mmdetection's
/// heads use (cls_convs.0.conv.weight), so checkpoints load across heads that share it.
/// </summary>
public sealed class ConvTower : nn.Module<Tensor, Tensor>
{
    readonly nn.Module<Tensor, Tensor>[] blocks;

    /// <summary>Channels out of the tower: the blocks' channels, or the input's when it has no block.</summary>
    public int OutChannels { get; }

    /// <param name="inChannels">Channels into the first block.</param>
    /// <param name="channels">Channels of every block's output.</param>
    /// <param name="count">Blocks (0: the tower passes its input through).</param>
    /// <param name="groups">GroupNorm groups after each conv; null: no norm, and the conv has a bias.</param>
    public ConvTower(int inChannels, int channels, int count, int? groups) : base(nameof(ConvTower))
    {
        blocks = Enumerable.Range(0, count).Select(i => Block(i == 0 ? inChannels : channels, channels, groups)).ToArray();
        for (int i = 0; i < blocks.Length; i++) register_module($"{i}", blocks[i]);
        OutChannels = count > 0 ? channels : inChannels;
    }

    /// <summary>One 3×3 conv + GroupNorm (when <paramref name="groups"/> is set; the conv then has no bias) + ReLU.</summary>
    public static nn.Module<Tensor, Tensor> Block(int inChannels, int outChannels, int? groups)
    {
        if (groups is { } g && (g < 1 || outChannels % g != 0))
            throw new ArgumentOutOfRangeException(nameof(groups), $"{outChannels} head channels are not a multiple of {g} GroupNorm groups.");
        return groups is { } n
            ? nn.Sequential(("conv", nn.Conv2d(inChannels, outChannels, 3, padding: 1, bias: false)), ("gn", nn.GroupNorm(n, outChannels)), ("relu", nn.ReLU(inplace: true)))
            : nn.Sequential(("conv", nn.Conv2d(inChannels, outChannels, 3, padding: 1)), ("relu", nn.ReLU(inplace: true)));
    }

    public override Tensor forward(Tensor x)
    {
        foreach (var block in blocks) x = block.call(x);
        return x;
    }
}

/// <summary>The initialisation every dense head of mmdetection 2.x and torchvision shares.</summary>
public static class HeadInit
{
    /// <summary>
    /// Normal(0, 0.01) for every conv weight (4-D), zeros for every bias, ones for every norm weight (1-D:
    /// GroupNorm and BatchNorm as identity; TorchSharp leaves GroupNorm's affine parameters uninitialised),
    /// in parameter order, drawing from <paramref name="generator"/> (null: <see cref="InitGenerator.Current"/>).
    /// Parameters whose name <paramref name="skip"/> selects keep their values.
    /// </summary>
    public static void NormalConvs(nn.Module head, Generator? generator = null, Func<string, bool>? skip = null)
    {
        using var _ = torch.no_grad();
        foreach (var (name, p) in head.named_parameters())
        {
            if (skip?.Invoke(name) == true) continue;
            if (name.EndsWith("bias", StringComparison.Ordinal)) nn.init.zeros_(p);
            else if (p.dim() == 4) p.normal_(0, 0.01, generator ?? InitGenerator.Current);
            else if (name.EndsWith("weight", StringComparison.Ordinal)) nn.init.ones_(p);
        }
    }

    /// <summary>Sets the classifier's bias so that every initial score is <paramref name="prior"/>: the many negatives then do not swamp the first iterations.</summary>
    public static void PriorBias(PaddedOutputConv2d classifier, double prior)
    {
        using var _ = torch.no_grad();
        using var bias = (-Math.Log((1 - prior) / prior)).ToScalar();
        classifier.Bias.fill_(bias);
    }
}
