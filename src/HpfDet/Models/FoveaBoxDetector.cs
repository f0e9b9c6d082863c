using HpfDet.Assigners;
using HpfDet.Boxes;
using HpfDet.Losses;
using HpfDet.Models.Backbones;
using HpfDet.Models.Heads;
using HpfDet.Models.Necks;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Models;

/// <summary>Options of <see cref="FoveaBoxDetector"/>; defaults are mmdetection 2.x's fovea_r50_fpn_4x4_1x but for the depth.</summary>
/// <param name="NumClasses">Object classes C.</param>
/// <param name="Backbone">ResNet options.</param>
/// <param name="FpnChannels">FPN output channels (256).</param>
/// <param name="HeadChannels">Channels of the head's stacked convs (256).</param>
/// <param name="HeadConvs">Stacked convs per head branch (4).</param>
/// <param name="HeadGroups">Null: the basic head without normalisation; set: GroupNorm groups after each stacked conv (the gn-head configurations).</param>
/// <param name="BaseEdges">Per level the edge e that distances are measured in (16, 32, 64, 128, 256).</param>
/// <param name="Assigner">Strides, scale ranges and σ of the fovea.</param>
/// <param name="BoxCoder">Clamp of the distance / edge ratios (1/16 … 16).</param>
/// <param name="SmoothL1Beta">β of the smooth L1 loss on the log-space codes (0.11).</param>
/// <param name="BoxLossWeight">Weight of the box loss (1).</param>
/// <param name="FocalGamma">γ of the focal loss used when no classification loss is given (FoveaBox: 1.5).</param>
/// <param name="FocalAlpha">α of the focal loss used when no classification loss is given (FoveaBox: 0.4).</param>
/// <param name="Inference">Post-processing (score 0.05, top 1000 per level, NMS 0.5, 100 per image).</param>
public sealed record FoveaBoxDetectorOptions(
    int NumClasses,
    ResNetOptions? Backbone = null,
    int FpnChannels = 256,
    int HeadChannels = 256,
    int HeadConvs = 4,
    int? HeadGroups = null,
    int[]? BaseEdges = null,
    FoveaAssignerOptions? Assigner = null,
    LogDistanceBoxCoderOptions? BoxCoder = null,
    double SmoothL1Beta = 0.11,
    double BoxLossWeight = 1.0,
    double FocalGamma = 1.5,
    double FocalAlpha = 0.4,
    InferenceOptions? Inference = null)
{
    /// <summary>The base edges, (16, 32, 64, 128, 256) when unset.</summary>
    public int[] LevelBaseEdges => BaseEdges ?? [16, 32, 64, 128, 256];
}

/// <summary>
/// FoveaBox (Kong et al., IEEE TIP 2020) as mmdetection 2.x builds it (fovea_r50_fpn_4x4_1x): P6 and P7 by
/// stride-2 convs from C5, one prior per cell (a square of the level's base edge centred on the cell's
/// centre), the fovea assigner (overlapping scale ranges, shrunk centre regions, larger boxes written first),
/// the classification loss it is given (focal loss γ 1.5, α 0.4 by default) over positives + images, and
/// smooth L1 (β 0.11) on the log-space side distances of positives over the positives; at inference sigmoid
/// scores, boxes decoded from log space, NMS at IoU 0.5.
/// </summary>
public sealed class FoveaBoxDetector : DenseDetector
{
    public FoveaBoxDetectorOptions Options { get; }
    public PointGenerator Points { get; }
    public FoveaAssigner Assigner { get; }
    public LogDistanceBoxCoder BoxCoder { get; }

    /// <param name="options">Architecture and training options.</param>
    /// <param name="classificationLoss">The classification loss; null means FoveaBox's focal loss (γ <see cref="FoveaBoxDetectorOptions.FocalGamma"/>, α <see cref="FoveaBoxDetectorOptions.FocalAlpha"/>).</param>
    /// <param name="backbone">A ready backbone; null builds one from the options.</param>
    public FoveaBoxDetector(FoveaBoxDetectorOptions options, IClassificationLoss? classificationLoss = null, ResNet? backbone = null)
        : base("foveabox", Compose(options, classificationLoss, backbone))
    {
        Options = options;
        Assigner = new FoveaAssigner(options.Assigner);
        if (Assigner.NumLevels != 5 || options.LevelBaseEdges.Length != 5)
            throw new ArgumentException($"FoveaBox has 5 pyramid levels; the options give {Assigner.NumLevels} strides and {options.LevelBaseEdges.Length} base edges.", nameof(options));
        if (options.LevelBaseEdges.Any(e => e <= 0))
            throw new ArgumentException("FoveaBox: every base edge must be positive.", nameof(options));
        if (!(options.SmoothL1Beta > 0))
            throw new ArgumentOutOfRangeException(nameof(options), $"FoveaBox: the smooth L1 β must be positive, got {options.SmoothL1Beta}.");
        Points = new PointGenerator(new PointGeneratorOptions(Assigner.Options.LevelStrides, Offset: 0.5));
        BoxCoder = new LogDistanceBoxCoder(options.BoxCoder);
    }

    /// <summary>FoveaBox from the registry's common options (unset values: mmdetection's; no GroupNorm unless head groups are set).</summary>
    public FoveaBoxDetector(DetectorBuildOptions o) : this(new FoveaBoxDetectorOptions(o.NumClasses, o.Backbone.Options,
        o.FpnChannels ?? 256, o.HeadChannels ?? 256, o.HeadConvs ?? 4, o.HeadGroups,
        Inference: (o.Inference ?? new()).Apply(new InferenceOptions(NmsIoU: 0.5))), o.ClassificationLoss, o.Backbone)
    {
    }

    static DenseDetectorParts Compose(FoveaBoxDetectorOptions options, IClassificationLoss? loss, ResNet? backbone)
    {
        var resnet = backbone ?? new ResNet(options.Backbone);
        // add_extra_convs='on_input': P6 = conv(C5), P7 = conv(P6), no ReLU between.
        var neck = new Fpn(new FpnOptions(resnet.OutChannels, options.FpnChannels, NumOutputs: 5, ExtraConvsOnOutput: true, ExtraConvsOnInput: true));
        var head = new FoveaHead(new FoveaHeadOptions(options.NumClasses, options.FpnChannels, options.HeadChannels, options.HeadConvs, options.HeadGroups));
        return new DenseDetectorParts(options.NumClasses, resnet, neck, head, 1,
            loss ?? new SigmoidFocalLoss(new SigmoidFocalLossOptions(options.FocalGamma, options.FocalAlpha)), options.Inference ?? new InferenceOptions(NmsIoU: 0.5));
    }

    public override string Family => "foveabox";

    /// <summary>Per level, squares of side e_l centred on the cells' centres ((x + 0.5)·s, (y + 0.5)·s).</summary>
    protected override IReadOnlyList<Tensor> GeneratePriors(IReadOnlyList<(int H, int W)> featureSizes, Device device)
    {
        using var scope = torch.NewDisposeScope();
        var points = Points.GridPoints(featureSizes, device);
        var priors = new Tensor[points.Count];
        for (int l = 0; l < points.Count; l++)
        {
            using var halfEdge = (Options.LevelBaseEdges[l] / 2.0).ToScalar();
            priors[l] = torch.cat([points[l].sub(halfEdge), points[l].add(halfEdge, ScalarConstants.One)], 1).MoveToOuterDisposeScope();
        }
        return priors;
    }

    /// <summary>The fovea assigner over every cell (the reference has no valid flags: cells on batch padding may be background).</summary>
    protected override PriorAssignment Assign(PriorSet priors, DetectionTarget target, Tensor? valid)
    {
        var index = Assigner.Assign(priors.FeatureSizes, target.Boxes);
        return PriorAssignment.FromMatches(index, target, priors.All, NumClasses);
    }

    /// <summary>Positives + images of the batch, as mmdetection 2.x's FoveaHead normalises its classification loss.</summary>
    protected override Tensor ClassificationNormalizer(TrainingBatch batch)
    {
        using var images = ((double)batch.BatchSize).ToScalar();
        return batch.NumPositives.add(images, ScalarConstants.One);
    }

    /// <summary>Smooth L1 (β) on the log-space codes of positives, summed over the four values and the positives, over max(1, positives).</summary>
    protected override IEnumerable<LossTerm> RegressionLosses(TrainingBatch batch)
    {
        Tensor targets;
        using (torch.no_grad()) targets = BoxCoder.Encode(batch.PriorsPerImage(), batch.MatchedBoxes);
        var perPrior = SmoothL1(batch.BoxRegression(), targets, Options.SmoothL1Beta).sum(2).mul(batch.PositiveF);
        var loss = perPrior.sum().div(batch.Normalizer);
        if (Options.BoxLossWeight != 1.0)
        {
            using var weight = Options.BoxLossWeight.ToScalar();
            loss = loss.mul(weight);
        }
        return [new LossTerm("box", loss)];
    }

    /// <summary>Elementwise smooth L1: 0.5·d²/β where d = |x − t| &lt; β, d − 0.5·β elsewhere.</summary>
    public static Tensor SmoothL1(Tensor input, Tensor target, double beta)
    {
        using var scope = torch.NewDisposeScope();
        using var b = beta.ToScalar();
        using var halfOverBeta = (0.5 / beta).ToScalar();
        using var halfBeta = (0.5 * beta).ToScalar();
        var d = input.sub(target).abs();
        return torch.where(d.lt(b), d.mul(d).mul_(halfOverBeta), d.sub(halfBeta)).MoveToOuterDisposeScope();
    }

    public override Tensor DecodeBoxes(Tensor priors, Tensor regression) => BoxCoder.Decode(priors, regression);
}
