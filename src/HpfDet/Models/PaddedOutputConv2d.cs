using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HpfDet.Models;

/// <summary>
/// A stride-1 2-D convolution (weight [O, I, k, k], bias [O]) for dense-head predictors, whose output
/// channel count O is often not a multiple of 16 (C classes, 4 box values, 1 centerness, 9·C anchors).
/// On CPUs where libtorch's oneDNN gives wrong float32 input gradients for such O (see
/// <see cref="TorchRuntime"/>), the convolution is computed with zero filters appended up to a multiple
/// of 16 and the extra outputs dropped: the same values and gradients, through a kernel that is right.
/// Parameter names and shapes are those of <c>nn.Conv2d</c>, so checkpoints and state dicts load unchanged.
/// </summary>
public sealed class PaddedOutputConv2d : nn.Module<Tensor, Tensor>
{
    const int ChannelMultiple = 16;

    readonly Parameter weight;
    readonly Parameter bias;
    readonly long padding;

    public int InChannels { get; }
    public int OutChannels { get; }

    public Parameter Weight => weight;
    public Parameter Bias => bias;

    /// <summary>A k×k convolution with "same" padding (k odd), initialised as <c>nn.Conv2d</c>.</summary>
    public PaddedOutputConv2d(int inChannels, int outChannels, int kernelSize = 3) : base(nameof(PaddedOutputConv2d))
    {
        if (inChannels < 1 || outChannels < 1 || kernelSize < 1 || kernelSize % 2 == 0)
            throw new ArgumentOutOfRangeException(nameof(kernelSize), $"PaddedOutputConv2d({inChannels}, {outChannels}, {kernelSize}): channels must be positive and the kernel size odd.");
        InChannels = inChannels;
        OutChannels = outChannels;
        padding = kernelSize / 2;
        using var reference = nn.Conv2d(inChannels, outChannels, kernelSize, padding: padding);
        weight = new Parameter(reference.weight!.detach().clone());
        bias = new Parameter(reference.bias!.detach().clone());
        RegisterComponents();
    }

    /// <summary>[B, I, H, W] → [B, O, H, W].</summary>
    public override Tensor forward(Tensor input)
    {
        int extra = (ChannelMultiple - OutChannels % ChannelMultiple) % ChannelMultiple;
        // bfloat16 too: bf16 training's backward goes through the same oneDNN kernels (garbage input gradients unpadded).
        if (extra == 0 || input.dtype is not (ScalarType.Float32 or ScalarType.BFloat16) || input.device_type != DeviceType.CPU || !TorchRuntime.OneDnnEnabled())
            return nn.functional.conv2d(input, weight, bias, padding: [padding, padding]);
        using var scope = torch.NewDisposeScope();
        var zerosW = torch.zeros([extra, InChannels, weight.shape[2], weight.shape[3]], dtype: weight.dtype, device: weight.device);
        var zerosB = torch.zeros(extra, dtype: bias.dtype, device: bias.device);
        var output = nn.functional.conv2d(input, torch.cat([weight, zerosW], 0), torch.cat([bias, zerosB], 0), padding: [padding, padding]);
        return output.narrow(1, 0, OutChannels).MoveToOuterDisposeScope();
    }
}
