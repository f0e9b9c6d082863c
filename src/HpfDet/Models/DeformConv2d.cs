using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HpfDet.Models;

/// <summary>
/// A deformable 2-D convolution (Dai et al. 2017, "DCNv1"; torchvision.ops.deform_conv2d's semantics
/// for stride 1, one group and one offset group): every output location (i, j) samples its k×k taps at
/// (i − p + a·d + Δy, j − p + b·d + Δx) for tap (a, b), bilinearly, with zeros outside the input, and
/// the convolution is the product of those samples with the weight.
/// The samples come from <c>grid_sample</c> (bilinear, zero padding, align_corners false, which puts
/// pixel centres at integer coordinates once a coordinate u is mapped to (2u + 1)/size − 1), so the
/// gradients to the input, the weight and the offsets are libtorch's own.
/// Parameter names and shapes are those of <c>nn.Conv2d</c> (weight [O, I, k, k], optional bias [O]).
/// </summary>
public sealed class DeformConv2d : nn.Module<Tensor, Tensor, Tensor>
{
    readonly Parameter weight;
    readonly Parameter? bias;

    public int InChannels { get; }
    public int OutChannels { get; }
    public int KernelSize { get; }
    public int Padding { get; }
    public int Dilation { get; }

    public Parameter Weight => weight;
    public Parameter? Bias => bias;

    /// <param name="inChannels">Input channels I.</param>
    /// <param name="outChannels">Output channels O.</param>
    /// <param name="kernelSize">Kernel side k.</param>
    /// <param name="padding">Zero padding p on every side (the base tap positions start at −p).</param>
    /// <param name="dilation">Spacing d of the base taps.</param>
    /// <param name="bias">Whether the convolution adds a bias (mmcv's DeformConv2d has none by default).</param>
    /// <remarks>Initialised as <c>nn.Conv2d</c> and mmcv's DeformConv2d: uniform in ±1/√(I·k·k).</remarks>
    public DeformConv2d(int inChannels, int outChannels, int kernelSize = 3, int padding = 1, int dilation = 1, bool bias = false) : base(nameof(DeformConv2d))
    {
        if (inChannels < 1 || outChannels < 1 || kernelSize < 1 || padding < 0 || dilation < 1)
            throw new ArgumentOutOfRangeException(nameof(kernelSize),
                $"DeformConv2d({inChannels}, {outChannels}, kernel {kernelSize}, padding {padding}, dilation {dilation}): channels, kernel and dilation must be positive and padding non-negative.");
        InChannels = inChannels;
        OutChannels = outChannels;
        KernelSize = kernelSize;
        Padding = padding;
        Dilation = dilation;
        double bound = 1.0 / Math.Sqrt(inChannels * kernelSize * kernelSize);
        using (torch.no_grad())
        {
            weight = new Parameter(torch.empty(outChannels, inChannels, kernelSize, kernelSize).uniform_(-bound, bound, InitGenerator.Current));
            this.bias = bias ? new Parameter(torch.empty(outChannels).uniform_(-bound, bound, InitGenerator.Current)) : null;
        }
        RegisterComponents();
    }

    /// <summary>Output size along one axis for an input of <paramref name="size"/> (stride 1).</summary>
    public long OutputSize(long size) => size + 2 * Padding - Dilation * (KernelSize - 1);

    /// <summary>[B, I, H, W] and offsets [B, 2·k·k, H_out, W_out] as (Δy, Δx) per tap, taps row-major → [B, O, H_out, W_out].</summary>
    public override Tensor forward(Tensor input, Tensor offsets)
    {
        if (input.dim() != 4 || input.shape[1] != InChannels)
            throw new ArgumentException($"DeformConv2d: input shape [{string.Join(", ", input.shape)}] must be [B, {InChannels}, H, W].", nameof(input));
        long b = input.shape[0], h = input.shape[2], w = input.shape[3];
        long outH = OutputSize(h), outW = OutputSize(w);
        int taps = KernelSize * KernelSize;
        if (outH < 1 || outW < 1)
            throw new ArgumentException($"DeformConv2d: a {h}×{w} input is smaller than the {KernelSize}×{KernelSize} kernel (padding {Padding}, dilation {Dilation}).", nameof(input));
        if (offsets.dim() != 4 || offsets.shape[0] != b || offsets.shape[1] != 2 * taps || offsets.shape[2] != outH || offsets.shape[3] != outW)
            throw new ArgumentException($"DeformConv2d: offsets shape [{string.Join(", ", offsets.shape)}] must be [{b}, {2 * taps}, {outH}, {outW}].", nameof(offsets));

        using var scope = torch.NewDisposeScope();
        var dtype = input.dtype;
        var device = input.device;
        using var dilation = Dilation.ToScalar();
        // Base tap positions: row i − p + a·d and column j − p + b·d of tap (a, b) at output (i, j).
        var tapRow = ScalarFreeFactories.Arange(KernelSize, dtype, device).mul(dilation).repeat_interleave(KernelSize);   // [k·k]: a·d
        var tapCol = ScalarFreeFactories.Arange(KernelSize, dtype, device).mul(dilation).repeat(KernelSize);             // [k·k]: b·d
        using var minusPadding = (-Padding).ToScalar();
        var rows = ScalarFreeFactories.Arange(outH, dtype, device).add(minusPadding, ScalarConstants.One);
        var cols = ScalarFreeFactories.Arange(outW, dtype, device).add(minusPadding, ScalarConstants.One);
        var grid = offsets.to(dtype).reshape(b, taps, 2, outH, outW);
        var y = grid.select(2, 0).add(tapRow.view(1, taps, 1, 1), ScalarConstants.One).add(rows.view(1, 1, outH, 1), ScalarConstants.One);   // [B, k·k, H_out, W_out]
        var x = grid.select(2, 1).add(tapCol.view(1, taps, 1, 1), ScalarConstants.One).add(cols.view(1, 1, 1, outW), ScalarConstants.One);
        // Pixel u ↦ (2u + 1)/size − 1, grid_sample's coordinate of pixel centre u when align_corners is false.
        using var twoOverH = (2.0 / h).ToScalar();
        using var twoOverW = (2.0 / w).ToScalar();
        using var shiftH = (1.0 / h - 1.0).ToScalar();
        using var shiftW = (1.0 / w - 1.0).ToScalar();
        var normalised = torch.stack([x.mul(twoOverW).add(shiftW, ScalarConstants.One), y.mul(twoOverH).add(shiftH, ScalarConstants.One)], -1)   // [B, k·k, H_out, W_out, 2] as (x, y)
            .reshape(b, taps * outH, outW, 2);
        var samples = nn.functional.grid_sample(input, normalised, GridSampleMode.Bilinear, GridSamplePaddingMode.Zeros, align_corners: false);   // [B, I, k·k·H_out, W_out]
        var columns = samples.reshape(b, (long)InChannels * taps, outH * outW);                      // rows (channel, tap), as the weight's flattening
        var output = torch.matmul(weight.reshape(OutChannels, -1), columns).reshape(b, OutChannels, outH, outW);
        if (bias is not null) output = output.add(bias.view(1, OutChannels, 1, 1), ScalarConstants.One);
        return output.MoveToOuterDisposeScope();
    }
}
