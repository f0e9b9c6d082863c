using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HpfDet.Models.Backbones;

/// <summary>
/// The residual shortcut's 1×1 convolution. On channels-last input a strided one runs as subsampling then a
/// stride-1 convolution (the same arithmetic: a 1×1 kernel with stride s and no padding reads every s-th
/// position): libtorch 2.10's oneDNN gives wrong results for some 1×1 stride-2 convolutions on channels-last
/// input (256 → 512 channels at 6×8: errors of 1.0 on outputs of 2.4), while stride 1 is right.
/// </summary>
internal static class ShortcutConvolution
{
    public static Tensor Forward(Conv2d conv, Tensor input)
    {
        var stride = conv.stride;
        if (!ChannelsLast.Is(input) || stride.All(s => s == 1) || conv.weight!.shape[2] != 1 || conv.weight.shape[3] != 1)
            return conv.forward(input);
        using var rows = input.slice(2, 0, input.shape[2], stride[0]);
        using var strided = rows.slice(3, 0, input.shape[3], stride[1]);
        // Packed again: a strided view is neither contiguous nor channels-last, which oneDNN does not take.
        using var sampled = ChannelsLast.Of(strided);
        return nn.functional.conv2d(sampled, conv.weight, conv.bias);
    }
}
