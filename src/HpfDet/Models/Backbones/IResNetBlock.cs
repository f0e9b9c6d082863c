using TorchSharp.Modules;

namespace HpfDet.Models.Backbones;

/// <summary>The convolution/normalisation pairs of a residual block, for weight import.</summary>
internal interface IResNetBlock
{
    /// <summary>Main-branch (conv, bn) pairs in data-flow order.</summary>
    IReadOnlyList<(Conv2d Conv, BatchNorm2d Norm)> MainBranch { get; }

    /// <summary>The projection shortcut (1x1 conv, bn), or null for an identity shortcut.</summary>
    (Conv2d Conv, BatchNorm2d Norm)? Shortcut { get; }

    /// <summary>For inference: from now on every (conv, bn) pair runs as one convolution with the BatchNorm
    /// folded in (<see cref="FoldedConvNorm"/>), its weights in <paramref name="dtype"/> (channels-last when asked).</summary>
    void FoldNorms(TorchSharp.torch.ScalarType dtype, bool channelsLast);
}
