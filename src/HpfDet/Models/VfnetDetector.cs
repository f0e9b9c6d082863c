using HpfDet.Assigners;
using HpfDet.Boxes;
using HpfDet.Losses;
using HpfDet.Models.Backbones;
using HpfDet.Models.Heads;
using HpfDet.Models.Necks;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Models;

/// <summary>Options of <see cref="VfnetDetector"/>; defaults are mmdetection 2.x's vfnet_r50_fpn_1x but for the depth.</summary>
/// <param name="NumClasses">Object classes C.</param>
/// <param name="Backbone">ResNet options.</param>
/// <param name="FpnChannels">FPN output channels (256).</param>
/// <param name="HeadChannels">Channels of the head's stacked and deformable convs (256).</param>
/// <param name="HeadConvs">Stacked convs per head branch (VFNet: 3).</param>
/// <param name="HeadGroups">GroupNorm groups of the head (32).</param>
/// <param name="Anchors">The ATSS anchors the assigner ranks (strides 8–128, octave base scale 8, one square anchor, no centre offset);
/// their centres are the points the distances start from.</param>
/// <param name="Assigner">ATSS assigner (top 9 per level).</param>
/// <param name="GradientMultiplier">Share of the gradient that reaches the initial box through the star offsets (0.1).</param>
/// <param name="InitialBoxLossWeight">Weight of the GIoU loss of the initial boxes (1.5).</param>
/// <param name="RefinedBoxLossWeight">Weight of the GIoU loss of the refined boxes (2.0).</param>
/// <param name="Inference">Post-processing (NMS IoU 0.6).</param>
public sealed record VfnetDetectorOptions(
    int NumClasses,
    ResNetOptions? Backbone = null,
    int FpnChannels = 256,
    int HeadChannels = 256,
    int HeadConvs = 3,
    int HeadGroups = 32,
    AnchorGeneratorOptions? Anchors = null,
    AtssAssignerOptions? Assigner = null,
    double GradientMultiplier = 0.1,
    double InitialBoxLossWeight = 1.5,
    double RefinedBoxLossWeight = 2.0,
    InferenceOptions? Inference = null);

/// <summary>
/// VarifocalNet (Zhang et al., CVPR 2021) as mmdetection 2.x builds it (use_atss): the ATSS assigner over
/// one square anchor per location (valid anchors only), distances from the anchor centres, an initial box
/// and a star-deformable-conv refinement of it (<see cref="VfnetHead"/>); GIoU ×1.5 on the initial and
/// ×2 on the refined boxes, each weighted by its own IoU with the target (at least 1e-6) and divided by
/// max(1, Σ of those weights); an IoU-aware classification trained with the loss it is given (varifocal
/// loss by default) whose quality targets are the refined boxes' IoUs. At inference the sigmoid class
/// scores select the refined boxes.
/// </summary>
public sealed class VfnetDetector : DenseDetector
{
    /// <summary>Smallest IoU a positive's box weights and quality target get (mmdetection's clamp).</summary>
    public const double MinPositiveIoU = 1e-6;

    public VfnetDetectorOptions Options { get; }
    public AnchorGenerator AnchorGenerator { get; }
    public AtssAssigner Assigner { get; }
    /// <summary>(l, t, r, b) distances in pixels from the anchor centres.</summary>
    public LinearBoxCoder BoxCoder { get; } = new(normalizeBySize: false);
    public GIoULoss InitialBoxLoss { get; }
    public GIoULoss RefinedBoxLoss { get; }

    /// <param name="options">Architecture and training options.</param>
    /// <param name="classificationLoss">The classification loss; null means the varifocal loss (α 0.75, γ 2).</param>
    /// <param name="backbone">A ready backbone; null builds one from the options.</param>
    public VfnetDetector(VfnetDetectorOptions options, IClassificationLoss? classificationLoss = null, ResNet? backbone = null)
        : base("vfnet", Compose(options, classificationLoss, backbone))
    {
        Options = options;
        AnchorGenerator = new AnchorGenerator(options.Anchors);
        if (AnchorGenerator.NumAnchorsPerLocation != 1)
            throw new ArgumentException($"VFNet uses one anchor per location; the anchor options give {AnchorGenerator.NumAnchorsPerLocation}.", nameof(options));
        if (AnchorGenerator.NumLevels != 5)
            throw new ArgumentException($"VFNet has 5 pyramid levels; the anchor options give {AnchorGenerator.NumLevels} strides.", nameof(options));
        if (AnchorGenerator.Options.CenterOffset != 0)
            throw new ArgumentException($"VFNet's points are the anchor centres at x·stride; the anchor options give a centre offset of {AnchorGenerator.Options.CenterOffset}.", nameof(options));
        Assigner = new AtssAssigner(options.Assigner);
        InitialBoxLoss = new GIoULoss(options.InitialBoxLossWeight);
        RefinedBoxLoss = new GIoULoss(options.RefinedBoxLossWeight);
    }

    /// <summary>VFNet from the registry's common options (unset values: VFNet's defaults).</summary>
    public VfnetDetector(DetectorBuildOptions o) : this(new VfnetDetectorOptions(o.NumClasses, o.Backbone.Options,
        o.FpnChannels ?? 256, o.HeadChannels ?? 256, o.HeadConvs ?? 3, o.HeadGroups ?? 32, Anchors: o.ScaledAnchors(new AnchorGeneratorOptions()),
        Inference: (o.Inference ?? new()).Apply(new InferenceOptions(NmsIoU: 0.6))), o.ClassificationLoss, o.Backbone)
    {
    }

    static DenseDetectorParts Compose(VfnetDetectorOptions options, IClassificationLoss? loss, ResNet? backbone)
    {
        var resnet = backbone ?? new ResNet(options.Backbone);
        // add_extra_convs 'on_output' with relu_before_extra_convs: P6 = conv(P5), P7 = conv(ReLU(P6)).
        var neck = new Fpn(new FpnOptions(resnet.OutChannels, options.FpnChannels, NumOutputs: 5, ExtraConvsOnOutput: true, ReluBeforeExtraConvs: true));
        var strides = (options.Anchors ?? new AnchorGeneratorOptions()).Strides;
        var head = new VfnetHead(new VfnetHeadOptions(options.NumClasses, options.FpnChannels, options.HeadChannels, options.HeadConvs, options.HeadGroups,
            Strides: strides, GradientMultiplier: options.GradientMultiplier));
        return new DenseDetectorParts(options.NumClasses, resnet, neck, head, 1, loss ?? new VarifocalLoss(), options.Inference ?? new InferenceOptions(NmsIoU: 0.6));
    }

    public override string Family => "vfnet";

    protected override IReadOnlyList<Tensor> GeneratePriors(IReadOnlyList<(int H, int W)> featureSizes, Device device) =>
        AnchorGenerator.GridAnchors(featureSizes, device);

    protected override IReadOnlyList<Tensor>? ValidPriors(IReadOnlyList<(int H, int W)> featureSizes, (int H, int W) imageSize, Device device) =>
        AnchorGenerator.ValidFlags(featureSizes, imageSize, device);

    /// <summary>
    /// The ATSS assigner over the valid anchors only (its per-level top-k counts them). Anchors on batch
    /// padding are background for the varifocal loss (whose call takes no label weights, so they are
    /// negatives there) and ignored for the other losses (their zero label weights).
    /// </summary>
    protected override PriorAssignment Assign(PriorSet priors, DetectionTarget target, Tensor? valid) =>
        AtssDetector.AssignOverValidAnchors(Assigner, priors, target, valid, NumClasses, ClassificationLoss is VarifocalLoss ? PriorAssignment.Background : PriorAssignment.Ignored);

    /// <summary>
    /// [B·N] IoU of each positive's decoded box with its target, at least <see cref="MinPositiveIoU"/>; 0 elsewhere (no gradient).
    /// </summary>
    static Tensor PositiveIoU(Tensor boxes, Tensor targets, Tensor positiveF)
    {
        using var _ = torch.no_grad();
        using var floor = MinPositiveIoU.ToScalar();
        var kept = torch.where(positiveF.gt(ScalarConstants.ZeroDouble).unsqueeze(1), boxes.detach(), targets);
        return BoxOps.AlignedIoU(kept, targets).clamp_min(floor).mul_(positiveF);
    }

    /// <summary>The IoU-aware classification targets: the refined boxes' IoUs with their targets (≥ 1e-6 on positives).</summary>
    protected override Tensor QualityTargets(TrainingBatch batch)
    {
        using var _ = torch.no_grad();
        var refined = DecodeBoxes(batch.PriorsPerImage().reshape(-1, 4), batch.BoxRegression().reshape(-1, 4));
        return PositiveIoU(refined, batch.MatchedBoxes.reshape(-1, 4), batch.PositiveF.reshape(-1)).reshape(batch.BatchSize, -1);
    }

    /// <summary>
    /// GIoU ×1.5 of the initial boxes and ×2 of the refined boxes, each weighted by the box's own IoU with
    /// its target (see <see cref="IoUWeightedGIoU"/>).
    /// </summary>
    protected override IEnumerable<LossTerm> RegressionLosses(TrainingBatch batch)
    {
        var anchors = batch.PriorsPerImage().reshape(-1, 4);
        var targets = batch.MatchedBoxes.reshape(-1, 4);
        var positiveF = batch.PositiveF.reshape(-1);
        var initial = DecodeBoxes(anchors, batch.Extra(VfnetHead.InitialBoxTerm, 4).reshape(-1, 4));
        var refined = DecodeBoxes(anchors, batch.BoxRegression().reshape(-1, 4));
        return [new LossTerm("box", IoUWeightedGIoU(InitialBoxLoss, initial, targets, positiveF)),
                new LossTerm("box_refine", IoUWeightedGIoU(RefinedBoxLoss, refined, targets, positiveF))];
    }

    /// <summary>
    /// mmdetection's VFNet box loss: Σ_pos w·(1 − GIoU) / max(1, Σ_pos w) × the loss weight, with
    /// w = max(IoU(box, target), 1e-6) of each positive, without gradient.
    /// </summary>
    /// <param name="loss">The GIoU loss (its weight).</param>
    /// <param name="boxes">[K, 4] decoded boxes.</param>
    /// <param name="targets">[K, 4] their targets.</param>
    /// <param name="positiveF">[K] 1 for positives, 0 elsewhere.</param>
    public static Tensor IoUWeightedGIoU(GIoULoss loss, Tensor boxes, Tensor targets, Tensor positiveF)
    {
        // Non-positives take their target as the box: their weight is 0, and a far-off prediction there
        // cannot make a non-finite GIoU that the zero weight would not remove.
        var positive = positiveF.gt(ScalarConstants.ZeroDouble).unsqueeze(1);
        var kept = torch.where(positive, boxes, targets);
        var weight = PositiveIoU(kept, targets, positiveF);
        return loss.Forward(kept, targets, weight, weight.sum().clamp_min(ScalarConstants.OneDouble));
    }

    /// <summary>One image's assignment as training makes it (priors of the feature sizes, valid flags of the image's content).</summary>
    internal PriorAssignment AssignImage(IReadOnlyList<(int H, int W)> featureSizes, DetectionTarget target, (int H, int W) imageSize)
    {
        var priors = Priors(featureSizes, target.Boxes.device);
        var valid = ValidPriors(featureSizes, imageSize, target.Boxes.device);
        return Assign(priors, target, valid is null ? null : torch.cat(valid.ToArray(), 0));
    }

    public override Tensor DecodeBoxes(Tensor priors, Tensor regression) => BoxCoder.Decode(priors, regression);
}
