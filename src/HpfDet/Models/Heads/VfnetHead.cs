using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HpfDet.Models.Heads;

/// <summary>Options of <see cref="VfnetHead"/> (mmdetection 2.x's VFNetHead in vfnet_r50_fpn_1x).</summary>
/// <param name="NumClasses">Object classes C (sigmoid classification, no background output).</param>
/// <param name="InChannels">Channels of each FPN level.</param>
/// <param name="FeatChannels">Channels of the stacked and deformable convs (a multiple of <paramref name="NumGroups"/>).</param>
/// <param name="StackedConvs">3×3 conv + GroupNorm + ReLU blocks per branch (VFNet: 3).</param>
/// <param name="NumGroups">GroupNorm groups (32).</param>
/// <param name="Strides">Stride of each level (8 … 128): maps the initial box onto the feature map for the star offsets.</param>
/// <param name="RegressionScales">
/// Per level the factor of the initial distances, exp(s·conv)·denominator: the upper ends of FCOS's regress
/// ranges (64, 128, 256, 512) and twice the last for P7 (bbox_norm_type 'reg_denom').
/// </param>
/// <param name="GradientMultiplier">Share of the gradient that reaches the initial box through the star offsets (0.1).</param>
/// <param name="PriorProbability">Initial foreground probability of the classifier bias (0.01).</param>
public sealed record VfnetHeadOptions(
    int NumClasses,
    int InChannels = 256,
    int FeatChannels = 256,
    int StackedConvs = 3,
    int NumGroups = 32,
    int[]? Strides = null,
    double[]? RegressionScales = null,
    double GradientMultiplier = 0.1,
    double PriorProbability = 0.01)
{
    public int[] LevelStrides => Strides ?? [8, 16, 32, 64, 128];
    public double[] LevelRegressionScales => RegressionScales ?? [64, 128, 256, 512, 1024];
}

/// <summary>
/// The VarifocalNet head (Zhang et al., CVPR 2021), as mmdetection 2.x's VFNetHead: a classification and a
/// regression branch of stacked 3×3 conv + GroupNorm + ReLU; the regression branch predicts an initial box
/// as distances (l, t, r, b) = exp(scale·conv)·denominator from one more conv block; the initial box gives
/// the 3×3 "star" sampling points of two deformable convs (the box's left/centre/right columns and
/// top/centre/bottom rows); one, on the regression features, predicts refinement factors exp(scale'·conv)
/// that multiply the (detached) initial distances; the other, on the classification features, feeds the
/// IoU-aware classifier.
/// </summary>
/// <remarks>
/// <see cref="DenseHeadOutputs.BoxRegression"/> holds the refined distances (what inference decodes);
/// the initial distances are the extra output <see cref="InitialBoxTerm"/>. Distances are in pixels.
/// </remarks>
public sealed class VfnetHead : nn.Module<Tensor[], DenseHeadOutputs>
{
    readonly ConvTower cls_convs;
    readonly ConvTower reg_convs;
    readonly nn.Module<Tensor, Tensor> vfnet_reg_conv;
    readonly PaddedOutputConv2d vfnet_reg;
    readonly ParameterList scales = new();
    readonly DeformConv2d vfnet_reg_refine_dconv;
    readonly PaddedOutputConv2d vfnet_reg_refine;
    readonly ParameterList scales_refine = new();
    readonly DeformConv2d vfnet_cls_dconv;
    readonly PaddedOutputConv2d vfnet_cls;

    public VfnetHeadOptions Options { get; }

    /// <summary>Name of the initial box distances in <see cref="DenseHeadOutputs.Extra"/>.</summary>
    public const string InitialBoxTerm = "initial_box";

    public VfnetHead(VfnetHeadOptions options) : base(nameof(VfnetHead))
    {
        Options = options;
        if (options.NumClasses < 1) throw new ArgumentOutOfRangeException(nameof(options), $"NumClasses must be >= 1, got {options.NumClasses}.");
        if (options.FeatChannels % options.NumGroups != 0)
            throw new ArgumentOutOfRangeException(nameof(options), $"FeatChannels ({options.FeatChannels}) must be a multiple of NumGroups ({options.NumGroups}) for GroupNorm.");
        if (options.LevelStrides.Length != options.LevelRegressionScales.Length)
            throw new ArgumentException($"VfnetHeadOptions: {options.LevelStrides.Length} strides but {options.LevelRegressionScales.Length} regression scales; give one of each per level.", nameof(options));
        if (!(options.GradientMultiplier is >= 0 and <= 1))
            throw new ArgumentOutOfRangeException(nameof(options), $"GradientMultiplier must be in [0, 1], got {options.GradientMultiplier}.");
        cls_convs = new ConvTower(options.InChannels, options.FeatChannels, options.StackedConvs, options.NumGroups);
        reg_convs = new ConvTower(options.InChannels, options.FeatChannels, options.StackedConvs, options.NumGroups);
        int branch = cls_convs.OutChannels;
        vfnet_reg_conv = ConvTower.Block(branch, options.FeatChannels, options.NumGroups);
        vfnet_reg = new PaddedOutputConv2d(options.FeatChannels, 4);
        vfnet_reg_refine_dconv = new DeformConv2d(branch, options.FeatChannels, 3, padding: 1);
        vfnet_reg_refine = new PaddedOutputConv2d(options.FeatChannels, 4);
        vfnet_cls_dconv = new DeformConv2d(branch, options.FeatChannels, 3, padding: 1);
        vfnet_cls = new PaddedOutputConv2d(options.FeatChannels, options.NumClasses);
        for (int l = 0; l < NumLevels; l++)
        {
            scales.Add(new Parameter(torch.ones(1)));
            scales_refine.Add(new Parameter(torch.ones(1)));
        }
        RegisterComponents();
        // mmdetection 2.x's init_cfg: Normal(0, 0.01) for every nn.Conv2d; the deformable convs are no nn.Conv2d
        // there and keep their own uniform ±1/√fan-in initialisation.
        HeadInit.NormalConvs(this, skip: name => name.StartsWith("scales", StringComparison.Ordinal) || name.Contains("_dconv.", StringComparison.Ordinal));
        HeadInit.PriorBias(vfnet_cls, options.PriorProbability);
    }

    public int NumLevels => Options.LevelStrides.Length;

    /// <summary>Per-level outputs for FPN features [B, InChannels, H_l, W_l].</summary>
    public override DenseHeadOutputs forward(Tensor[] features)
    {
        if (features.Length != NumLevels)
            throw new ArgumentException($"VfnetHead expects {NumLevels} levels, got {features.Length}.", nameof(features));
        var cls = new Tensor[features.Length];
        var refined = new Tensor[features.Length];
        var initial = new Tensor[features.Length];
        for (int l = 0; l < features.Length; l++)
        {
            using var scope = torch.NewDisposeScope();
            var c = cls_convs.call(features[l]);
            var r = reg_convs.call(features[l]);
            using var denominator = Options.LevelRegressionScales[l].ToScalar();
            var box = vfnet_reg.call(vfnet_reg_conv.call(r)).mul(scales[l]).exp().mul(denominator);
            var offsets = StarOffsets(box, Options.LevelStrides[l], Options.GradientMultiplier);
            var refineFeatures = nn.functional.relu(vfnet_reg_refine_dconv.call(r, offsets));
            var factors = vfnet_reg_refine.call(refineFeatures).mul(scales_refine[l]).exp();
            refined[l] = factors.mul(box.detach()).MoveToOuterDisposeScope();
            initial[l] = box.MoveToOuterDisposeScope();
            cls[l] = vfnet_cls.call(nn.functional.relu(vfnet_cls_dconv.call(c, offsets))).MoveToOuterDisposeScope();
        }
        return new DenseHeadOutputs(cls, refined, new Dictionary<string, Tensor[]> { [InitialBoxTerm] = initial });
    }

    /// <summary>
    /// The star offsets of a 3×3 deformable conv from box distances: tap (a, b) samples the row
    /// (−t, 0, +b)[a] and the column (−l, 0, +r)[b] relative to the location, in feature cells (distances
    /// divided by the stride), so its offset is that point less the tap's own place (a − 1, b − 1). Only a
    /// <paramref name="gradientMultiplier"/> share of the gradient reaches the distances.
    /// </summary>
    /// <param name="distances">[B, 4, H, W] as (l, t, r, b) in pixels.</param>
    /// <param name="stride">The level's stride.</param>
    /// <param name="gradientMultiplier">Gradient share (0.1).</param>
    /// <returns>[B, 18, H, W]: (Δy, Δx) per tap, taps row-major (torchvision's deform_conv2d layout).</returns>
    public static Tensor StarOffsets(Tensor distances, int stride, double gradientMultiplier)
    {
        using var scope = torch.NewDisposeScope();
        using var keep = gradientMultiplier.ToScalar();
        using var stopped = (1 - gradientMultiplier).ToScalar();
        using var perStride = (1.0 / stride).ToScalar();
        // (1 − g)·d.detach() + g·d: the value of d with g of its gradient.
        var d = distances.detach().mul(stopped).add(distances.mul(keep), ScalarConstants.One).mul(perStride);
        var (left, top, right, bottom) = (d.select(1, 0), d.select(1, 1), d.select(1, 2), d.select(1, 3));
        var zero = torch.zeros_like(left);
        Tensor[] rowsOfTaps = [top.neg(), zero, bottom];
        Tensor[] colsOfTaps = [left.neg(), zero, right];
        var channels = new List<Tensor>(18);
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++)
            {
                using var rowBase = (1 - a).ToScalar();
                using var colBase = (1 - b).ToScalar();
                channels.Add(rowsOfTaps[a].add(rowBase, ScalarConstants.One));
                channels.Add(colsOfTaps[b].add(colBase, ScalarConstants.One));
            }
        return torch.stack(channels, 1).MoveToOuterDisposeScope();
    }
}
