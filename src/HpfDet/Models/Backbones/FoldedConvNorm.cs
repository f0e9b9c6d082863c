using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HpfDet.Models.Backbones;

/// <summary>
/// A convolution with the eval-mode BatchNorm after it folded in: BN(conv(x, W, b)) = conv(x, W·s, (b − μ)·s + β)
/// with s = γ / √(σ² + ε) per output channel — one convolution with a bias instead of a convolution plus a pass
/// of the normalisation over the activations. Inference uses it (<see cref="DenseDetector.PrepareForInference"/>),
/// and the ONNX exporter writes the same fold. The modules' own weights are left as they are (checkpoints and the
/// unfolded path still read them).
/// </summary>
internal sealed class FoldedConvNorm : IDisposable
{
    /// <summary>W·s, in the compute dtype and layout.</summary>
    public Tensor Weight { get; }

    /// <summary>(b − μ)·s + β, in the compute dtype.</summary>
    public Tensor Bias { get; }

    readonly Conv2d conv;

    FoldedConvNorm(Conv2d conv, Tensor weight, Tensor bias)
    {
        this.conv = conv;
        // They live as long as the module (disposed with it), not as long as a dispose scope the caller happens to be in.
        Weight = weight.DetachFromDisposeScope();
        Bias = bias.DetachFromDisposeScope();
    }

    /// <summary>
    /// The folded weight and bias in float64 on the CPU (W·s and (b − μ)·s + β). <paramref name="where"/> starts
    /// the error raised when the BatchNorm tracks no running statistics (what is folded, and where).
    /// </summary>
    public static (Tensor Weight, Tensor Bias) FoldFloat64(Conv2d conv, BatchNorm2d norm, string where)
    {
        if (norm.running_mean is null || norm.running_var is null)
            throw new HpfDetException($"{where}: the BatchNorm after the convolution tracks no running statistics, so it cannot be folded into it.");
        using var scope = NewDisposeScope();
        using var _ = torch.no_grad();
        var weight = conv.weight!.detach().cpu().to(ScalarType.Float64);
        long outChannels = weight.shape[0];
        var gamma = norm.weight is null ? ones(outChannels, ScalarType.Float64) : norm.weight.detach().cpu().to(ScalarType.Float64);
        var beta = norm.bias is null ? zeros(outChannels, ScalarType.Float64) : norm.bias.detach().cpu().to(ScalarType.Float64);
        using var eps = norm.eps.ToScalar();
        var scale = gamma.div(norm.running_var.detach().cpu().to(ScalarType.Float64).add(eps, ScalarConstants.One).sqrt());
        var bias = conv.bias is null ? zeros(outChannels, ScalarType.Float64) : conv.bias.detach().cpu().to(ScalarType.Float64);
        var foldedWeight = weight.mul(scale.view(-1, 1, 1, 1));
        var foldedBias = bias.sub(norm.running_mean.detach().cpu().to(ScalarType.Float64)).mul(scale).add(beta, ScalarConstants.One);
        return (foldedWeight.MoveToOuterDisposeScope(), foldedBias.MoveToOuterDisposeScope());
    }

    /// <summary>The fold of <paramref name="conv"/> and <paramref name="norm"/>, computed in float64 and stored in
    /// <paramref name="dtype"/> on the convolution's device (weight channels-last when asked).</summary>
    public static FoldedConvNorm Of(Conv2d conv, BatchNorm2d norm, ScalarType dtype, bool channelsLast, string where)
    {
        var (weight64, bias64) = FoldFloat64(conv, norm, where);
        using (weight64)
        using (bias64)
        {
            var device = conv.weight!.device;
            using var weight = weight64.to(dtype, device);
            var bias = bias64.to(dtype, device);
            return new FoldedConvNorm(conv, channelsLast ? ChannelsLast.Of(weight) : weight.alias(), bias);
        }
    }

    /// <summary>conv(x, W·s) + bias, with the convolution's stride, padding, dilation and groups.</summary>
    public Tensor Forward(Tensor input) =>
        nn.functional.conv2d(input, Weight, Bias, conv.stride, conv.padding ?? [0L, 0L], conv.dilation, conv.groups);

    public void Dispose()
    {
        Weight.Dispose();
        Bias.Dispose();
    }
}

/// <summary>A residual block's folds: its main-branch pairs in data-flow order and its projection shortcut (null for an identity).</summary>
internal sealed class FoldedBlockNorms : IDisposable
{
    public IReadOnlyList<FoldedConvNorm> Main { get; }
    public FoldedConvNorm? Shortcut { get; }

    FoldedBlockNorms(IReadOnlyList<FoldedConvNorm> main, FoldedConvNorm? shortcut)
    {
        Main = main;
        Shortcut = shortcut;
    }

    public static FoldedBlockNorms Of(IResNetBlock block, ScalarType dtype, bool channelsLast) => new(
        block.MainBranch.Select((pair, i) => FoldedConvNorm.Of(pair.Conv, pair.Norm, dtype, channelsLast, $"Folding the backbone's conv{i + 1}")).ToArray(),
        block.Shortcut is { } s ? FoldedConvNorm.Of(s.Conv, s.Norm, dtype, channelsLast, "Folding the backbone's downsample.0") : null);

    public void Dispose()
    {
        foreach (var f in Main) f.Dispose();
        Shortcut?.Dispose();
    }
}
