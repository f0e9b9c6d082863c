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
    readonly ModuleList<nn.Module<Tensor, Tensor>> cls_convs = new();
    readonly ModuleList<nn.Module<Tensor, Tensor>> reg_convs = new();
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
        for (int i = 0; i < options.StackedConvs; i++)
        {
            int inCh = i == 0 ? options.InChannels : options.FeatChannels;
            cls_convs.Add(ConvBlock(inCh, options.FeatChannels, options.NumGroups));
            reg_convs.Add(ConvBlock(inCh, options.FeatChannels, options.NumGroups));
        }
        int branch = options.StackedConvs > 0 ? options.FeatChannels : options.InChannels;
        int a = options.AnchorsPerLocation;
        atss_cls = new PaddedOutputConv2d(branch, a * options.NumClasses);
        atss_reg = new PaddedOutputConv2d(branch, a * 4);
        atss_centerness = new PaddedOutputConv2d(branch, a);
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
        // Normal(0, 0.01) convs, zero biases, GroupNorm as identity (TorchSharp leaves GroupNorm's affine
        // parameters uninitialised); the classifier bias makes every initial score the prior, so the
        // loss of the many negatives does not swamp the first iterations.
        foreach (var (name, p) in named_parameters())
        {
            if (name.StartsWith("scales")) continue;
            if (name.Contains(".gn.")) { if (name.EndsWith("weight")) nn.init.ones_(p); else nn.init.zeros_(p); }
            else if (name.EndsWith("weight") && p.dim() == 4) nn.init.normal_(p, 0, 0.01);
            else if (name.EndsWith("bias")) nn.init.zeros_(p);
        }
        double prior = Options.PriorProbability;
        using var bias = (-Math.Log((1 - prior) / prior)).ToScalar();
        atss_cls.Bias.fill_(bias);
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
            var c = features[l];
            foreach (var m in cls_convs) c = m.call(c);
            var r = features[l];
            foreach (var m in reg_convs) r = m.call(r);
            cls[l] = atss_cls.call(c);
            reg[l] = atss_reg.call(r).mul(scales[l]);
            ctr[l] = atss_centerness.call(r);
        }
        return new DenseHeadOutputs(cls, reg, new Dictionary<string, Tensor[]> { [AtssHead.CenternessTerm] = ctr });
    }
}
