using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HpfDet.Models.Heads;

/// <summary>Options of <see cref="GflHead"/>.</summary>
/// <param name="NumClasses">Number of object classes C (sigmoid classification; the scores are GFL's joint class–IoU quality).</param>
/// <param name="InChannels">Channels of each FPN level.</param>
/// <param name="FeatChannels">Channels of the stacked convs (a multiple of <paramref name="NumGroups"/>).</param>
/// <param name="StackedConvs">3×3 conv + GroupNorm + ReLU blocks per branch (GFL: 4).</param>
/// <param name="NumGroups">GroupNorm groups (GFL: 32).</param>
/// <param name="NumLevels">Pyramid levels, one learnable regression scale each.</param>
/// <param name="RegMax">Largest bin of each side's distance distribution (GFL: 16): 4·(RegMax + 1) regression values per location.</param>
/// <param name="PriorProbability">Initial foreground probability of the classifier bias (0.01).</param>
public sealed record GflHeadOptions(
    int NumClasses,
    int InChannels = 256,
    int FeatChannels = 256,
    int StackedConvs = 4,
    int NumGroups = 32,
    int NumLevels = 5,
    int RegMax = 16,
    double PriorProbability = 0.01);

/// <summary>
/// The GFL head: a classification branch and a regression branch of stacked 3×3 conv + GroupNorm +
/// ReLU shared across levels; a 3×3 classifier of joint class–quality scores and a 3×3 regressor of
/// 4·(RegMax + 1) distribution logits per location, times a learnable scale per level. One prior per location.
/// </summary>
public sealed class GflHead : nn.Module<Tensor[], DenseHeadOutputs>
{
    readonly ConvTower cls_convs;
    readonly ConvTower reg_convs;
    readonly PaddedOutputConv2d gfl_cls;
    readonly PaddedOutputConv2d gfl_reg;
    readonly ParameterList scales = new();

    public GflHeadOptions Options { get; }

    /// <summary>Regression values per location: 4·(RegMax + 1).</summary>
    public int BoxValuesPerPrior => 4 * (Options.RegMax + 1);

    public GflHead(GflHeadOptions options) : base(nameof(GflHead))
    {
        Options = options;
        if (options.NumClasses < 1) throw new ArgumentOutOfRangeException(nameof(options), $"NumClasses must be >= 1, got {options.NumClasses}.");
        if (options.RegMax < 1) throw new ArgumentOutOfRangeException(nameof(options), $"RegMax must be >= 1, got {options.RegMax}.");
        if (options.FeatChannels % options.NumGroups != 0)
            throw new ArgumentOutOfRangeException(nameof(options), $"FeatChannels ({options.FeatChannels}) must be a multiple of NumGroups ({options.NumGroups}) for GroupNorm.");
        cls_convs = new ConvTower(options.InChannels, options.FeatChannels, options.StackedConvs, options.NumGroups);
        reg_convs = new ConvTower(options.InChannels, options.FeatChannels, options.StackedConvs, options.NumGroups);
        int branch = cls_convs.OutChannels;
        gfl_cls = new PaddedOutputConv2d(branch, options.NumClasses);
        gfl_reg = new PaddedOutputConv2d(branch, BoxValuesPerPrior);
        for (int l = 0; l < options.NumLevels; l++) scales.Add(new Parameter(torch.ones(1)));
        RegisterComponents();
        // Normal(0, 0.01) convs, the regressor too: every side starts near the uniform distribution, distance RegMax/2.
        HeadInit.NormalConvs(this, skip: name => name.StartsWith("scales", StringComparison.Ordinal));
        HeadInit.PriorBias(gfl_cls, options.PriorProbability);
    }

    /// <summary>Per-level outputs for FPN features [B, InChannels, H_l, W_l]: logits [B, C, H, W] and distributions [B, 4·(RegMax+1), H, W].</summary>
    public override DenseHeadOutputs forward(Tensor[] features)
    {
        if (features.Length != Options.NumLevels)
            throw new ArgumentException($"GflHead expects {Options.NumLevels} levels, got {features.Length}.", nameof(features));
        var cls = new Tensor[features.Length];
        var reg = new Tensor[features.Length];
        for (int l = 0; l < features.Length; l++)
        {
            var c = cls_convs.call(features[l]);
            var r = reg_convs.call(features[l]);
            cls[l] = gfl_cls.call(c);
            reg[l] = gfl_reg.call(r).mul(scales[l]);
        }
        return new DenseHeadOutputs(cls, reg);
    }
}
