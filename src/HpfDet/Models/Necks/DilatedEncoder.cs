using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HpfDet.Models.Necks;

/// <summary>Options of <see cref="DilatedEncoder"/> (defaults: YOLOF's, as mmdetection 2.x's yolof_r50_c5_8x8_1x).</summary>
/// <param name="InChannels">Channels of the last backbone map (C5).</param>
/// <param name="OutChannels">Channels of the encoder's one output level (512).</param>
/// <param name="MidChannels">Middle channels of the residual blocks (128).</param>
/// <param name="Dilations">Dilation of each residual block's 3×3 conv, one block each (2, 4, 6, 8).</param>
public sealed record DilatedEncoderOptions(int InChannels, int OutChannels = 512, int MidChannels = 128, int[]? Dilations = null)
{
    /// <summary>The dilations, (2, 4, 6, 8) unless given.</summary>
    public int[] BlockDilations => Dilations ?? [2, 4, 6, 8];
}

/// <summary>
/// YOLOF's neck (mmdetection 2.x's DilatedEncoder): of the backbone's maps only the last (C5, stride 32) is
/// used: a 1×1 lateral conv + BatchNorm, a 3×3 conv + BatchNorm, then residual bottlenecks (1×1 → dilated 3×3 →
/// 1×1, each conv + BatchNorm + ReLU, plus the identity) whose growing dilations widen the receptive field
/// so that one level covers objects of every size. Its BatchNorms train with batch statistics (only the
/// backbone's are frozen by norm_eval). Parameter names are mmdetection's.
/// </summary>
public sealed class DilatedEncoder : nn.Module<Tensor[], Tensor[]>
{
    readonly Conv2d lateral_conv;
    readonly BatchNorm2d lateral_norm;
    readonly Conv2d fpn_conv;
    readonly BatchNorm2d fpn_norm;
    readonly Sequential dilated_encoder_blocks;

    public DilatedEncoderOptions Options { get; }

    public DilatedEncoder(DilatedEncoderOptions options) : base(nameof(DilatedEncoder))
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
        if (options.InChannels < 1 || options.OutChannels < 1 || options.MidChannels < 1)
            throw new HpfDetException($"DilatedEncoderOptions: channels must be positive; got in {options.InChannels}, out {options.OutChannels}, mid {options.MidChannels}.");
        if (options.BlockDilations.Length == 0 || options.BlockDilations.Any(d => d < 1))
            throw new HpfDetException($"DilatedEncoderOptions.Dilations = [{string.Join(", ", options.BlockDilations)}]: give at least one dilation, each >= 1.");
        lateral_conv = nn.Conv2d(options.InChannels, options.OutChannels, 1);
        lateral_norm = nn.BatchNorm2d(options.OutChannels);
        fpn_conv = nn.Conv2d(options.OutChannels, options.OutChannels, 3, padding: 1);
        fpn_norm = nn.BatchNorm2d(options.OutChannels);
        dilated_encoder_blocks = nn.Sequential(options.BlockDilations.Select((d, i) =>
            ($"{i}", (nn.Module<Tensor, Tensor>)new ResidualBlock(options.OutChannels, options.MidChannels, d))).ToArray());
        RegisterComponents();
        InitWeights();
    }

    void InitWeights()
    {
        using var _ = torch.no_grad();
        // The lateral and 3×3 convs: caffe2 Xavier (uniform ±sqrt(3 / fan_in)), zero bias; the blocks' convs
        // normal(0, 0.01); every BatchNorm weight 1, bias 0.
        foreach (var conv in new[] { lateral_conv, fpn_conv })
        {
            double bound = Math.Sqrt(3.0 / (conv.weight!.shape[1] * conv.weight.shape[2] * conv.weight.shape[3]));
            conv.weight!.uniform_(-bound, bound, InitGenerator.Current);
            nn.init.zeros_(conv.bias!);
        }
        foreach (var (name, p) in dilated_encoder_blocks.named_parameters())
        {
            if (p.dim() == 4) p.normal_(0, 0.01, InitGenerator.Current);
        }
        foreach (var module in modules())
        {
            if (module is BatchNorm2d norm)
            {
                nn.init.ones_(norm.weight!);
                nn.init.zeros_(norm.bias!);
            }
        }
    }

    /// <summary>Backbone maps (finest first) → the one level, from the last map.</summary>
    public override Tensor[] forward(Tensor[] features)
    {
        if (features.Length == 0) throw new ArgumentException("DilatedEncoder needs at least one backbone map.", nameof(features));
        var x = fpn_norm.call(fpn_conv.call(lateral_norm.call(lateral_conv.call(features[^1]))));
        return [dilated_encoder_blocks.call(x)];
    }

    /// <summary>1×1 → dilated 3×3 → 1×1 (each conv without bias + BatchNorm + ReLU), plus the input.</summary>
    sealed class ResidualBlock : nn.Module<Tensor, Tensor>
    {
        readonly Sequential conv1;
        readonly Sequential conv2;
        readonly Sequential conv3;

        public ResidualBlock(int channels, int midChannels, int dilation) : base(nameof(ResidualBlock))
        {
            conv1 = ConvBnRelu(channels, midChannels, 1, 1);
            conv2 = ConvBnRelu(midChannels, midChannels, 3, dilation);
            conv3 = ConvBnRelu(midChannels, channels, 1, 1);
            RegisterComponents();
        }

        static Sequential ConvBnRelu(int inChannels, int outChannels, int kernel, int dilation) => nn.Sequential(
            ("conv", nn.Conv2d(inChannels, outChannels, kernel, padding: dilation * (kernel / 2), dilation: dilation, bias: false)),
            ("bn", nn.BatchNorm2d(outChannels)),
            ("activate", nn.ReLU()));

        public override Tensor forward(Tensor x) => conv3.call(conv2.call(conv1.call(x))).add(x, ScalarConstants.One);
    }
}
