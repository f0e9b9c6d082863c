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
    readonly ModuleList<nn.Module<Tensor, Tensor>> cls_convs = new();
    readonly ModuleList<nn.Module<Tensor, Tensor>> reg_convs = new();
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
        for (int i = 0; i < options.StackedConvs; i++)
        {
            int inCh = i == 0 ? options.InChannels : options.FeatChannels;
            cls_convs.Add(ConvBlock(inCh, options.FeatChannels, options.NumGroups));
            reg_convs.Add(ConvBlock(inCh, options.FeatChannels, options.NumGroups));
        }
        int branch = options.StackedConvs > 0 ? options.FeatChannels : options.InChannels;
        gfl_cls = new PaddedOutputConv2d(branch, options.NumClasses);
        gfl_reg = new PaddedOutputConv2d(branch, BoxValuesPerPrior);
        for (int l = 0; l < options.NumLevels; l++) scales.Add(new Parameter(torch.ones(1)));
        RegisterComponents();
        InitWeights();
    }

    static nn.Module<Tensor, Tensor> ConvBlock(int inCh, int outCh, int groups) => nn.Sequential(
        ("conv", nn.Conv2d(inCh, outCh, 3, padding: 1, bias: false)),
        ("gn", nn.GroupNorm(groups, outCh)),
        ("relu", nn.ReLU(inplace: true)));

    void InitWeights()
    {
        using var _ = torch.no_grad();
        // Normal(0, 0.01) convs (the regressor too: every side starts near the uniform distribution,
        // distance RegMax/2), zero biases, GroupNorm as identity (TorchSharp leaves GroupNorm's affine
        // parameters uninitialised); the classifier bias makes every initial score the prior.
        foreach (var (name, p) in named_parameters())
        {
            if (name.StartsWith("scales")) continue;
            if (name.Contains(".gn.")) { if (name.EndsWith("weight")) nn.init.ones_(p); else nn.init.zeros_(p); }
            else if (name.EndsWith("weight") && p.dim() == 4) nn.init.normal_(p, 0, 0.01);
            else if (name.EndsWith("bias")) nn.init.zeros_(p);
        }
        double prior = Options.PriorProbability;
        using var bias = (-Math.Log((1 - prior) / prior)).ToScalar();
        gfl_cls.Bias.fill_(bias);
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
            var c = features[l];
            foreach (var m in cls_convs) c = m.call(c);
            var r = features[l];
            foreach (var m in reg_convs) r = m.call(r);
            cls[l] = gfl_cls.call(c);
            reg[l] = gfl_reg.call(r).mul(scales[l]);
        }
        return new DenseHeadOutputs(cls, reg);
    }
}
