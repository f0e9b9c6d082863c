using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HpfDet.Models.Heads;

/// <summary>Options of <see cref="FoveaHead"/>.</summary>
/// <param name="NumClasses">Object classes C (sigmoid classification).</param>
/// <param name="InChannels">Channels of each FPN level.</param>
/// <param name="FeatChannels">Channels of the stacked convs (256).</param>
/// <param name="StackedConvs">3×3 conv + ReLU blocks per branch (4).</param>
/// <param name="NormGroups">Null: the basic FoveaBox head, convs with bias and no normalisation. Set: GroupNorm with that many
/// groups after each stacked conv (without bias), as the gn-head configurations.</param>
/// <param name="PriorProbability">Initial foreground probability of the classifier bias (0.01).</param>
public sealed record FoveaHeadOptions(int NumClasses, int InChannels = 256, int FeatChannels = 256, int StackedConvs = 4, int? NormGroups = null, double PriorProbability = 0.01);

/// <summary>
/// mmdetection 2.x's FoveaHead without the deformable feature alignment: a classification and a regression
/// branch of stacked 3×3 convs shared across levels, then a 3×3 classifier (C logits) and a 3×3 regressor of
/// the four log-space side distances. Parameter names are mmdetection's (cls_convs.0.conv.weight, ...,
/// conv_cls.bias, conv_reg.weight; cls_convs.0.gn.weight with GroupNorm), and so is the initialisation:
/// normal(0, 0.01) convs, zero biases, the classifier bias −log((1 − p)/p).
/// </summary>
public sealed class FoveaHead : nn.Module<Tensor[], DenseHeadOutputs>
{
    readonly ConvTower cls_convs;
    readonly ConvTower reg_convs;
    readonly PaddedOutputConv2d conv_cls;
    readonly PaddedOutputConv2d conv_reg;

    public FoveaHeadOptions Options { get; }

    public FoveaHead(FoveaHeadOptions options) : base(nameof(FoveaHead))
    {
        Options = options;
        if (options.NumClasses < 1) throw new ArgumentOutOfRangeException(nameof(options), $"NumClasses must be >= 1, got {options.NumClasses}.");
        if (options.NormGroups is { } g && (g < 1 || options.FeatChannels % g != 0))
            throw new ArgumentOutOfRangeException(nameof(options), $"FoveaBox head: {options.FeatChannels} channels are not a multiple of {g} GroupNorm groups.");
        cls_convs = new ConvTower(options.InChannels, options.FeatChannels, options.StackedConvs, options.NormGroups);
        reg_convs = new ConvTower(options.InChannels, options.FeatChannels, options.StackedConvs, options.NormGroups);
        int branch = cls_convs.OutChannels;
        conv_cls = new PaddedOutputConv2d(branch, options.NumClasses);
        conv_reg = new PaddedOutputConv2d(branch, 4);
        RegisterComponents();
        HeadInit.NormalConvs(this);
        HeadInit.PriorBias(conv_cls, options.PriorProbability);
    }

    /// <summary>Per-level outputs for FPN features [B, InChannels, H_l, W_l]: logits [B, C, H, W] and log-space distances [B, 4, H, W].</summary>
    public override DenseHeadOutputs forward(Tensor[] features)
    {
        var cls = new Tensor[features.Length];
        var reg = new Tensor[features.Length];
        for (int l = 0; l < features.Length; l++)
        {
            var c = cls_convs.call(features[l]);
            var r = reg_convs.call(features[l]);
            cls[l] = conv_cls.call(c);
            reg[l] = conv_reg.call(r);
        }
        return new DenseHeadOutputs(cls, reg);
    }
}
