using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Models;

/// <summary>
/// Channels-last (NHWC) memory layout for 4-D tensors, oneDNN's preferred layout for CPU convolutions.
/// TorchSharp has no memory-format argument, so the layout is made by strides: permute to NHWC, make that
/// contiguous, permute back; the shape stays [N, C, H, W] and libtorch's convolutions keep the layout of
/// their input and weight.
/// </summary>
public static class ChannelsLast
{
    /// <summary>The tensor with channels-last strides (a copy unless it already has them); 4-D only.</summary>
    public static Tensor Of(Tensor x)
    {
        if (x.dim() != 4) throw new ArgumentException($"Channels-last needs a 4-D tensor, got {x.dim()}-D.", nameof(x));
        if (Is(x)) return x.alias();
        using var nhwc = x.permute(0, 2, 3, 1);
        using var packed = nhwc.contiguous();
        return packed.permute(0, 3, 1, 2);
    }

    /// <summary>Whether the strides are NHWC-dense (channels the innermost dimension).</summary>
    public static bool Is(Tensor x)
    {
        if (x.dim() != 4) return false;
        var s = x.stride();
        long c = x.shape[1], h = x.shape[2], w = x.shape[3];
        return s[1] == 1 && s[3] == c && s[2] == c * w && (x.shape[0] == 1 || s[0] == c * h * w);
    }

    /// <summary>Moves every 4-D parameter and buffer of the module (convolution weights) to channels-last, in place.</summary>
    public static void Convert(nn.Module module)
    {
        using var _ = torch.no_grad();
        foreach (var (_, p) in module.named_parameters())
            if (p.dim() == 4 && !Is(p))
                using (var cl = Of(p)) p.set_(cl);
        foreach (var (_, b) in module.named_buffers())
            if (b.dim() == 4 && !Is(b))
                using (var cl = Of(b)) b.set_(cl);
    }
}
