using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HpfDet.Models.Heads;

/// <summary>Options of <see cref="FsafHead"/>.</summary>
/// <param name="NumClasses">Object classes C (sigmoid classification, no background output).</param>
/// <param name="InChannels">Channels of each FPN level (256).</param>
/// <param name="FeatChannels">Channels of the stacked convs (256).</param>
/// <param name="StackedConvs">3×3 conv + ReLU blocks per branch (4).</param>
/// <param name="NormGroups">Null: FSAF's head without normalisation (conv with bias + ReLU). Set: GroupNorm with that many
/// groups after each stacked conv (without bias), which keeps the features' scale and trains in far fewer iterations.</param>
/// <param name="PriorProbability">Initial foreground probability of the classifier bias (0.01).</param>
/// <param name="RegressionBias">Initial bias of the box regressor (0.25): every initial box has a positive area.</param>
public sealed record FsafHeadOptions(int NumClasses, int InChannels = 256, int FeatChannels = 256, int StackedConvs = 4, int? NormGroups = null,
    double PriorProbability = 0.01, double RegressionBias = 0.25);

/// <summary>
/// The FSAF anchor-free head (mmdetection 2.x's FSAFHead, a RetinaNet head with one prior per location): a
/// classification and a regression branch of stacked 3×3 convs shared across levels, a 3×3 classifier of C
/// logits and a 3×3 regressor of four (top, bottom, left, right) distances followed by a ReLU, since the TBLR
/// coder decodes non-negative distances only. Initialisation: normal(0, 0.01) convs, zero biases, the
/// classifier bias -log((1-p)/p), the regressor bias 0.25.
/// </summary>
public sealed class FsafHead : nn.Module<Tensor[], DenseHeadOutputs>
{
    readonly ConvTower cls_convs;
    readonly ConvTower reg_convs;
    readonly PaddedOutputConv2d retina_cls;
    readonly PaddedOutputConv2d retina_reg;

    public FsafHeadOptions Options { get; }

    public FsafHead(FsafHeadOptions options) : base(nameof(FsafHead))
    {
        Options = options;
        if (options.NumClasses < 1) throw new ArgumentOutOfRangeException(nameof(options), $"NumClasses must be >= 1, got {options.NumClasses}.");
        if (options.NormGroups is { } g && (g < 1 || options.FeatChannels % g != 0))
            throw new ArgumentOutOfRangeException(nameof(options), $"FSAF head: {options.FeatChannels} channels are not a multiple of {g} GroupNorm groups.");
        cls_convs = new ConvTower(options.InChannels, options.FeatChannels, options.StackedConvs, options.NormGroups);
        reg_convs = new ConvTower(options.InChannels, options.FeatChannels, options.StackedConvs, options.NormGroups);
        int branch = cls_convs.OutChannels;
        retina_cls = new PaddedOutputConv2d(branch, options.NumClasses);
        retina_reg = new PaddedOutputConv2d(branch, 4);
        RegisterComponents();
        HeadInit.NormalConvs(this);
        HeadInit.PriorBias(retina_cls, Options.PriorProbability);
        using var _ = torch.no_grad();
        using var boxBias = Options.RegressionBias.ToScalar();
        retina_reg.Bias.fill_(boxBias);
    }

    /// <summary>Per-level outputs for FPN features [B, InChannels, H_l, W_l]: logits [B, C, H, W], distances [B, 4, H, W] (≥ 0).</summary>
    public override DenseHeadOutputs forward(Tensor[] features)
    {
        var cls = new Tensor[features.Length];
        var reg = new Tensor[features.Length];
        for (int l = 0; l < features.Length; l++)
        {
            var c = cls_convs.call(features[l]);
            var r = reg_convs.call(features[l]);
            cls[l] = retina_cls.call(c);
            reg[l] = nn.functional.relu(retina_reg.call(r));
        }
        return new DenseHeadOutputs(cls, reg);
    }
}
