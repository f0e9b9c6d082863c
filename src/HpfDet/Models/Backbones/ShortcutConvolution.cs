using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HpfDet.Models.Backbones;

/// <summary>
/// The residual shortcut's 1×1 convolution. On channels-last input it runs as a matrix product over the NHWC
/// buffer (after subsampling when strided: a 1×1 kernel with stride s and no padding reads every s-th
/// position), which is the same arithmetic: libtorch 2.10's oneDNN gives wrong float32 results for channels-last
/// 1×1 convolutions at many shapes — 256 or 512 → 512 channels with a batch of 2, at most spatial sizes (a
/// sweep of 3,200 shapes: 122 wrong, errors of 1–2 on outputs of 3–4; none in bfloat16, none at batch 1) —
/// and the stride-2 form of the same layer is wrong as well.
/// </summary>
internal static class ShortcutConvolution
{
    /// <summary>The shortcut convolution of <paramref name="input"/>; with <paramref name="folded"/>, the convolution
    /// with its BatchNorm folded in (inference).</summary>
    public static Tensor Forward(Conv2d conv, Tensor input, FoldedConvNorm? folded = null)
    {
        var weight = folded?.Weight ?? conv.weight!;
        if (!ChannelsLast.Is(input) || weight.shape[2] != 1 || weight.shape[3] != 1 || conv.groups != 1)
            return folded is null ? conv.forward(input) : folded.Forward(input);
        var bias = folded is null ? conv.bias : folded.Bias;
        using var scope = NewDisposeScope();
        var stride = conv.stride;
        var sampled = input;
        if (stride.Any(s => s != 1))
        {
            using var rows = input.slice(2, 0, input.shape[2], stride[0]);
            using var strided = rows.slice(3, 0, input.shape[3], stride[1]);
            sampled = ChannelsLast.Of(strided);   // packed again: a strided view is not channels-last
        }
        long n = sampled.shape[0], channels = sampled.shape[1], height = sampled.shape[2], width = sampled.shape[3];
        // Channels-last: the NHWC permutation is a contiguous view, one row of channels per position.
        var positions = sampled.permute(0, 2, 3, 1).reshape(-1, channels);
        var matrix = weight.reshape(weight.shape[0], channels).t();
        var output = bias is null ? positions.mm(matrix) : torch.addmm(bias, positions, matrix, 1f, 1f);
        return output.view(n, height, width, -1).permute(0, 3, 1, 2).MoveToOuterDisposeScope();
    }
}
