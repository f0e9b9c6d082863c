using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HpfDet.Models.Heads;

/// <summary>Options of <see cref="AtssHead"/>.</summary>
/// <param name="NumClasses">Number of object classes C (no background output: sigmoid classification).</param>
/// <param name="InChannels">Channels of each FPN level.</param>
/// <param name="FeatChannels">Channels of the stacked convs (a multiple of <paramref name="NumGroups"/>).</param>
/// <param name="StackedConvs">3×3 conv + GroupNorm + ReLU blocks per branch (ATSS: 4).</param>
/// <param name="NumGroups">GroupNorm groups (ATSS: 32).</param>
/// <param name="NumLevels">Pyramid levels, one learnable regression scale each.</param>
/// <param name="AnchorsPerLocation">Anchors per location (ATSS: 1).</param>
/// <param name="PriorProbability">Initial foreground probability of the classifier bias (0.01).</param>
public sealed record AtssHeadOptions(
    int NumClasses,
    int InChannels = 256,
    int FeatChannels = 256,
    int StackedConvs = 4,
    int NumGroups = 32,
    int NumLevels = 5,
    int AnchorsPerLocation = 1,
    double PriorProbability = 0.01);

/// <summary>
/// The ATSS head: a classification branch and a regression branch of stacked 3×3 conv + GroupNorm +
/// ReLU shared across levels; a 3×3 classifier, a 3×3 box-delta regressor with a learnable scale per
/// level, and a 3×3 centerness predictor on the regression branch.
/// </summary>
public sealed class AtssHead : nn.Module<Tensor[], DenseHeadOutputs>
{
    readonly ConvTower cls_convs;
    readonly ConvTower reg_convs;
    readonly PaddedOutputConv2d atss_cls;
    readonly PaddedOutputConv2d atss_reg;
    readonly PaddedOutputConv2d atss_centerness;
    readonly ParameterList scales = new();

    public AtssHeadOptions Options { get; }

    /// <summary>Name of the centerness output in <see cref="DenseHeadOutputs.Extra"/>.</summary>
    public const string CenternessTerm = "centerness";

    public AtssHead(AtssHeadOptions options) : base(nameof(AtssHead))
    {
        Options = options;
        if (options.NumClasses < 1) throw new ArgumentOutOfRangeException(nameof(options), $"NumClasses must be >= 1, got {options.NumClasses}.");
        if (options.FeatChannels % options.NumGroups != 0)
            throw new ArgumentOutOfRangeException(nameof(options), $"FeatChannels ({options.FeatChannels}) must be a multiple of NumGroups ({options.NumGroups}) for GroupNorm.");
        cls_convs = new ConvTower(options.InChannels, options.FeatChannels, options.StackedConvs, options.NumGroups);
        reg_convs = new ConvTower(options.InChannels, options.FeatChannels, options.StackedConvs, options.NumGroups);
        int branch = cls_convs.OutChannels;
        int a = options.AnchorsPerLocation;
        atss_cls = new PaddedOutputConv2d(branch, a * options.NumClasses);
        atss_reg = new PaddedOutputConv2d(branch, a * 4);
        atss_centerness = new PaddedOutputConv2d(branch, a);
        for (int l = 0; l < options.NumLevels; l++) scales.Add(new Parameter(torch.ones(1)));
        RegisterComponents();
        HeadInit.NormalConvs(this, skip: name => name.StartsWith("scales", StringComparison.Ordinal));
        HeadInit.PriorBias(atss_cls, options.PriorProbability);
    }

    /// <summary>Per-level outputs for FPN features [B, InChannels, H_l, W_l].</summary>
    public override DenseHeadOutputs forward(Tensor[] features)
    {
        if (features.Length != Options.NumLevels)
            throw new ArgumentException($"AtssHead expects {Options.NumLevels} levels, got {features.Length}.", nameof(features));
        var cls = new Tensor[features.Length];
        var reg = new Tensor[features.Length];
        var ctr = new Tensor[features.Length];
        for (int l = 0; l < features.Length; l++)
        {
            var c = cls_convs.call(features[l]);
            var r = reg_convs.call(features[l]);
            cls[l] = atss_cls.call(c);
            reg[l] = atss_reg.call(r).mul(scales[l]);
            ctr[l] = atss_centerness.call(r);
        }
        return new DenseHeadOutputs(cls, reg, new Dictionary<string, Tensor[]> { [AtssHead.CenternessTerm] = ctr });
    }
}
