using HpfDet.Assigners;
using HpfDet.Boxes;
using HpfDet.Losses;
using HpfDet.Models.Backbones;
using HpfDet.Models.Heads;
using HpfDet.Models.Necks;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Models;

/// <summary>Options of <see cref="AtssDetector"/>; defaults are mmdetection's ATSS-R50 settings but for the depth.</summary>
/// <param name="NumClasses">Object classes C.</param>
/// <param name="Backbone">ResNet options (depth, frozen stages, norm eval).</param>
/// <param name="FpnChannels">FPN output channels (ATSS: 256).</param>
/// <param name="HeadChannels">Channels of the head's stacked convs (ATSS: 256).</param>
/// <param name="HeadConvs">Stacked convs per head branch (ATSS: 4).</param>
/// <param name="HeadGroups">GroupNorm groups of the head (ATSS: 32).</param>
/// <param name="Anchors">Anchor generator (strides 8–128, octave base scale 8, one anchor per location).</param>
/// <param name="Assigner">ATSS assigner (top 9 per level).</param>
/// <param name="BoxCoder">Delta coder (stds 0.1, 0.1, 0.2, 0.2).</param>
/// <param name="BoxLossWeight">Weight of the GIoU loss (ATSS: 2).</param>
/// <param name="Inference">Post-processing (NMS IoU 0.6).</param>
public sealed record AtssDetectorOptions(
    int NumClasses,
    ResNetOptions? Backbone = null,
    int FpnChannels = 256,
    int HeadChannels = 256,
    int HeadConvs = 4,
    int HeadGroups = 32,
    AnchorGeneratorOptions? Anchors = null,
    AtssAssignerOptions? Assigner = null,
    DeltaXYWHBoxCoderOptions? BoxCoder = null,
    double BoxLossWeight = 2.0,
    InferenceOptions? Inference = null);

/// <summary>
/// ATSS (Zhang et al., CVPR 2020) as mmdetection 2.x builds it: one square anchor per location, the
/// ATSS assigner over the anchors that lie on the image (not on batch padding), the classification
/// loss it is given (focal loss by default), GIoU ×2 weighted by centerness targets, centerness BCE;
/// at inference class scores × centerness.
/// </summary>
public sealed class AtssDetector : DenseDetector
{
    public AtssDetectorOptions Options { get; }
    public AnchorGenerator AnchorGenerator { get; }
    public AtssAssigner Assigner { get; }
    public DeltaXYWHBoxCoder BoxCoder { get; }
    public GIoULoss BoxLoss { get; }

    /// <param name="options">Architecture and training options.</param>
    /// <param name="classificationLoss">The classification loss; null means focal loss (γ 2, α 0.25).</param>
    /// <param name="backbone">A ready backbone (for example with pretrained weights); null builds one from the options.</param>
    public AtssDetector(AtssDetectorOptions options, IClassificationLoss? classificationLoss = null, ResNet? backbone = null)
        : base("atss", Compose(options, classificationLoss, backbone))
    {
        Options = options;
        AnchorGenerator = new AnchorGenerator(options.Anchors);
        if (AnchorGenerator.NumAnchorsPerLocation != 1)
            throw new ArgumentException($"ATSS uses one anchor per location; the anchor options give {AnchorGenerator.NumAnchorsPerLocation}.", nameof(options));
        if (AnchorGenerator.NumLevels != 5)
            throw new ArgumentException($"ATSS has 5 pyramid levels; the anchor options give {AnchorGenerator.NumLevels} strides.", nameof(options));
        Assigner = new AtssAssigner(options.Assigner);
        BoxCoder = new DeltaXYWHBoxCoder(options.BoxCoder);
        BoxLoss = new GIoULoss(options.BoxLossWeight);
    }

    /// <summary>ATSS from the registry's common options (unset values: ATSS's defaults).</summary>
    public AtssDetector(DetectorBuildOptions o) : this(new AtssDetectorOptions(o.NumClasses, o.Backbone.Options,
        o.FpnChannels ?? 256, o.HeadChannels ?? 256, o.HeadConvs ?? 4, o.HeadGroups ?? 32, Anchors: o.ScaledAnchors(new AnchorGeneratorOptions()),
        Inference: (o.Inference ?? new()).Apply(new InferenceOptions(NmsIoU: 0.6))), o.ClassificationLoss, o.Backbone)
    {
    }

    static DenseDetectorParts Compose(AtssDetectorOptions options, IClassificationLoss? loss, ResNet? backbone)
    {
        var resnet = backbone ?? new ResNet(options.Backbone);
        var neck = new Fpn(new FpnOptions(resnet.OutChannels, options.FpnChannels, NumOutputs: 5));
        var head = new AtssHead(new AtssHeadOptions(options.NumClasses, options.FpnChannels, options.HeadChannels, options.HeadConvs, options.HeadGroups, NumLevels: 5));
        return new DenseDetectorParts(options.NumClasses, resnet, neck, head, 1, loss ?? new SigmoidFocalLoss(), options.Inference ?? new InferenceOptions(NmsIoU: 0.6));
    }

    public override string Family => "atss";

    protected override IReadOnlyList<Tensor> GeneratePriors(IReadOnlyList<(int H, int W)> featureSizes, Device device) =>
        AnchorGenerator.GridAnchors(featureSizes, device);

    protected override IReadOnlyList<Tensor>? ValidPriors(IReadOnlyList<(int H, int W)> featureSizes, (int H, int W) imageSize, Device device) =>
        AnchorGenerator.ValidFlags(featureSizes, imageSize, device);

    /// <summary>
    /// The ATSS assigner over the valid anchors only (its per-level top-k counts them), as mmdetection
    /// does; anchors on batch padding are ignored (label -1: no loss), as mmdetection's zero label weights.
    /// </summary>
    protected override PriorAssignment Assign(PriorSet priors, DetectionTarget target, Tensor? valid) =>
        AssignOverValidAnchors(Assigner, priors, target, valid, NumClasses, PriorAssignment.Ignored);

    /// <summary>
    /// The ATSS assigner over the valid anchors only (its per-level top-k counts only them), as mmdetection's
    /// ATSS, GFL and VFNet heads do; anchors outside <paramref name="valid"/> get <paramref name="invalidMatch"/>
    /// (<see cref="PriorAssignment.Ignored"/> or <see cref="PriorAssignment.Background"/>). Shared by the
    /// detectors that assign with ATSS.
    /// </summary>
    internal static PriorAssignment AssignOverValidAnchors(AtssAssigner assigner, PriorSet priors, DetectionTarget target, Tensor? valid, int numClasses, long invalidMatch)
    {
        // The assigner's gt index is 1-based (0 negative, -1 ignore): one less is FromMatches' convention.
        if (valid is null)
        {
            using var all = assigner.Assign(priors.PerLevel, target.Boxes, target.Labels, numClasses, target.IsCrowd);
            return PriorAssignment.FromMatches(all.AssignedGtIndex.sub(ScalarConstants.One), target, priors.All, numClasses);
        }
        var validPerLevel = new List<Tensor>(priors.PerLevel.Count);
        long offset = 0;
        foreach (var count in priors.CountsPerLevel)
        {
            validPerLevel.Add(priors.PerLevel[validPerLevel.Count].index_select(0, valid.narrow(0, offset, count).nonzero().squeeze(1)));
            offset += count;
        }
        using var result = assigner.Assign(validPerLevel, target.Boxes, target.Labels, numClasses, target.IsCrowd);
        using var invalid = invalidMatch.ToScalar();
        var matches = torch.full(priors.All.shape[0], invalid, dtype: ScalarType.Int64, device: valid.device)
            .index_copy_(0, valid.nonzero().squeeze(1), result.AssignedGtIndex.sub(ScalarConstants.One));
        return PriorAssignment.FromMatches(matches, target, priors.All, numClasses);
    }

    /// <summary>GIoU ×2 weighted by the centerness targets (normalised by their sum), and centerness BCE (by the positives).</summary>
    protected override IEnumerable<LossTerm> RegressionLosses(TrainingBatch batch)
    {
        var anchors = batch.PriorsPerImage().reshape(-1, 4);
        var targetBoxes = batch.MatchedBoxes.reshape(-1, 4);
        var positiveF = batch.PositiveF.reshape(-1);
        var decoded = BoxCoder.Decode(anchors, batch.BoxRegression().reshape(-1, 4));
        Tensor centernessTarget;
        using (torch.no_grad()) centernessTarget = CenternessTargets(anchors, targetBoxes).mul_(positiveF);
        var boxLoss = BoxLoss.Forward(decoded, targetBoxes, centernessTarget, centernessTarget.sum().clamp_min(ScalarConstants.OneDouble));
        var centerness = batch.Extra(AtssHead.CenternessTerm, 1).reshape(-1);
        var centernessLoss = nn.functional.binary_cross_entropy_with_logits(centerness, centernessTarget, reduction: nn.Reduction.None)
            .mul(positiveF).sum().div(batch.Normalizer);
        return [new LossTerm("box", boxLoss), new LossTerm(AtssHead.CenternessTerm, centernessLoss)];
    }

    public override Tensor DecodeBoxes(Tensor priors, Tensor regression) => BoxCoder.Decode(priors, regression);

    protected internal override Tensor? ScoreFactor(LevelPrediction level) => level.Extra[AtssHead.CenternessTerm].reshape(-1).sigmoid();

    /// <summary>
    /// FCOS/ATSS centerness of each anchor centre w.r.t. its target box:
    /// sqrt(min(l, r)/max(l, r) · min(t, b)/max(t, b)).
    /// </summary>
    /// <param name="anchors">[N, 4]</param>
    /// <param name="boxes">[N, 4]</param>
    /// <returns>[N] in [0, 1].</returns>
    public static Tensor CenternessTargets(Tensor anchors, Tensor boxes)
    {
        using var scope = torch.NewDisposeScope();
        using var tiny = 1e-6.ToScalar();
        var cx = anchors[.., 0].add(anchors[.., 2], ScalarConstants.One).mul(ScalarConstants.HalfDouble);
        var cy = anchors[.., 1].add(anchors[.., 3], ScalarConstants.One).mul(ScalarConstants.HalfDouble);
        var l = cx.sub(boxes[.., 0]).clamp_min(ScalarConstants.Zero);
        var t = cy.sub(boxes[.., 1]).clamp_min(ScalarConstants.Zero);
        var r = boxes[.., 2].sub(cx).clamp_min(ScalarConstants.Zero);
        var b = boxes[.., 3].sub(cy).clamp_min(ScalarConstants.Zero);
        var lr = torch.minimum(l, r).div(torch.maximum(l, r).clamp_min(tiny));
        var tb = torch.minimum(t, b).div(torch.maximum(t, b).clamp_min(tiny));
        return lr.mul(tb).sqrt().MoveToOuterDisposeScope();
    }
}
