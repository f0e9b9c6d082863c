using HpfDet.Assigners;
using HpfDet.Boxes;
using HpfDet.Losses;
using HpfDet.Models.Backbones;
using HpfDet.Models.Heads;
using HpfDet.Models.Necks;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Models;

/// <summary>Options of <see cref="FcosDetector"/>; defaults are torchvision 0.14's fcos_resnet50_fpn but for the depth.</summary>
/// <param name="NumClasses">Object classes C.</param>
/// <param name="Backbone">ResNet options.</param>
/// <param name="FpnChannels">FPN output channels (256).</param>
/// <param name="HeadChannels">Channels of the head's stacked convs (torchvision: the FPN channels).</param>
/// <param name="HeadConvs">Stacked convs per head branch (4).</param>
/// <param name="HeadGroups">GroupNorm groups of the head (32: torchvision's default norm_layer, partial(nn.GroupNorm, 32)).</param>
/// <param name="Strides">
/// Strides of P3–P7 (8 … 128). torchvision derives each level's stride as padded image size // feature size,
/// which equals these whenever the padded size is a multiple of 128 (as in its reference cases); the priors
/// here always use these strides.
/// </param>
/// <param name="Assigner">Centre sampling and scale ranges.</param>
/// <param name="Inference">Post-processing (score 0.05, top 1000 per level, NMS 0.6, 100 per image).</param>
public sealed record FcosDetectorOptions(
    int NumClasses,
    ResNetOptions? Backbone = null,
    int FpnChannels = 256,
    int? HeadChannels = null,
    int HeadConvs = 4,
    int HeadGroups = 32,
    int[]? Strides = null,
    FcosAssignerOptions? Assigner = null,
    InferenceOptions? Inference = null);

/// <summary>
/// FCOS (Tian et al., ICCV 2019) as torchvision 0.14 builds it: one prior per location (a square of side
/// = stride centred on the point x·stride), the FCOS assigner (centre sampling 1.5, scale ranges, smallest
/// area), the classification loss it is given (focal loss over the batch by default), GIoU on decoded
/// boxes and centerness BCE on positives, each over max(1, positives); at inference the candidate score
/// is sqrt(σ(class) · σ(centerness)).
/// </summary>
public sealed class FcosDetector : DenseDetector
{
    public FcosDetectorOptions Options { get; }
    public AnchorGenerator PointPriors { get; }
    public FcosAssigner Assigner { get; }
    public LinearBoxCoder BoxCoder { get; } = new(normalizeBySize: true);
    public GIoULoss BoxLoss { get; } = new(1.0, 1e-7, GIoUEps.Add);

    /// <param name="options">Architecture and training options.</param>
    /// <param name="classificationLoss">The classification loss; null means focal loss (γ 2, α 0.25).</param>
    /// <param name="backbone">A ready backbone; null builds one from the options.</param>
    public FcosDetector(FcosDetectorOptions options, IClassificationLoss? classificationLoss = null, ResNet? backbone = null)
        : base("fcos", Compose(options, classificationLoss, backbone))
    {
        Options = options;
        PointPriors = new AnchorGenerator(new AnchorGeneratorOptions(options.Strides, OctaveBaseScale: 1, CenterOffset: 0));
        if (PointPriors.NumLevels != 5)
            throw new ArgumentException($"FCOS has 5 pyramid levels; the options give {PointPriors.NumLevels} strides.", nameof(options));
        Assigner = new FcosAssigner(options.Assigner);
    }

    /// <summary>FCOS from the registry's common options (unset values: torchvision's defaults).</summary>
    public FcosDetector(DetectorBuildOptions o) : this(new FcosDetectorOptions(o.NumClasses, o.Backbone.Options,
        o.FpnChannels ?? 256, o.HeadChannels, o.HeadConvs ?? 4, o.HeadGroups ?? 32,
        Inference: (o.Inference ?? new()).Apply(new InferenceOptions())), o.ClassificationLoss, o.Backbone)
    {
    }

    static DenseDetectorParts Compose(FcosDetectorOptions options, IClassificationLoss? loss, ResNet? backbone)
    {
        var resnet = backbone ?? new ResNet(options.Backbone);
        // torchvision's LastLevelP6P7 on P5: P6 = conv(P5), P7 = conv(ReLU(P6)).
        var neck = new Fpn(new FpnOptions(resnet.OutChannels, options.FpnChannels, NumOutputs: 5, ExtraConvsOnOutput: true, ReluBeforeExtraConvs: true));
        var head = new FcosHead(new FcosHeadOptions(options.NumClasses, options.FpnChannels, options.HeadChannels ?? options.FpnChannels, options.HeadConvs, options.HeadGroups));
        return new DenseDetectorParts(options.NumClasses, resnet, neck, head, 1, loss ?? new SigmoidFocalLoss(), options.Inference ?? new InferenceOptions());
    }

    public override string Family => "fcos";

    protected override IReadOnlyList<Tensor> GeneratePriors(IReadOnlyList<(int H, int W)> featureSizes, Device device) =>
        PointPriors.GridAnchors(featureSizes, device);

    protected override PriorAssignment Assign(PriorSet priors, DetectionTarget target, Tensor? valid)
    {
        var index = Assigner.Assign(priors.All, priors.CountsPerLevel[0], priors.CountsPerLevel[^1], target.Boxes);
        using var background = NumClasses.ToScalar();
        var positive = index.ge(ScalarConstants.Zero);
        if (target.Boxes.shape[0] == 0)
            return new PriorAssignment(torch.full_like(index, background), priors.All.to(target.Boxes.dtype));
        var safe = index.clamp_min(ScalarConstants.Zero);
        var labels = torch.where(positive, target.Labels.index_select(0, safe), torch.full_like(index, background));
        var matched = torch.where(positive.unsqueeze(1), target.Boxes.index_select(0, safe), priors.All.to(target.Boxes.dtype));
        return new PriorAssignment(labels, matched);
    }

    /// <summary>IoU of each positive's decoded box with its ground truth (QFL/VFL targets).</summary>
    protected override Tensor QualityTargets(TrainingBatch batch)
    {
        using var _ = torch.no_grad();
        var decoded = BoxCoder.Decode(batch.PriorsPerImage().reshape(-1, 4), batch.BoxRegression().reshape(-1, 4));
        return BoxOps.AlignedIoU(decoded, batch.MatchedBoxes.reshape(-1, 4)).reshape(batch.BatchSize, -1).mul_(batch.PositiveF);
    }

    /// <summary>
    /// GIoU (torchvision's generalized_box_iou_loss) of the decoded boxes and centerness BCE with
    /// logits, both summed over the positives and divided by max(1, positives of the batch).
    /// </summary>
    protected override IEnumerable<LossTerm> RegressionLosses(TrainingBatch batch)
    {
        var priors = batch.PriorsPerImage().reshape(-1, 4);
        var targetBoxes = batch.MatchedBoxes.reshape(-1, 4);
        var positiveF = batch.PositiveF.reshape(-1);
        var decoded = BoxCoder.Decode(priors, batch.BoxRegression().reshape(-1, 4));
        var boxLoss = BoxLoss.Forward(decoded, targetBoxes, positiveF, batch.Normalizer);
        Tensor centernessTarget;
        using (torch.no_grad()) centernessTarget = CenternessTargets(BoxCoder.Encode(priors, targetBoxes)).mul_(positiveF);
        var centerness = batch.Extra(FcosHead.CenternessTerm, 1).reshape(-1);
        var centernessLoss = nn.functional.binary_cross_entropy_with_logits(centerness, centernessTarget, reduction: nn.Reduction.None)
            .mul(positiveF).sum().div(batch.Normalizer);
        return [new LossTerm("box", boxLoss), new LossTerm(FcosHead.CenternessTerm, centernessLoss)];
    }

    /// <summary>sqrt(min(l, r)/max(l, r) · min(t, b)/max(t, b)) of encoded (l, t, r, b) targets [N, 4] → [N].</summary>
    public static Tensor CenternessTargets(Tensor ltrb)
    {
        using var scope = torch.NewDisposeScope();
        var (l, t, r, b) = (ltrb.select(-1, 0), ltrb.select(-1, 1), ltrb.select(-1, 2), ltrb.select(-1, 3));
        var lr = torch.minimum(l, r).div(torch.maximum(l, r));
        var tb = torch.minimum(t, b).div(torch.maximum(t, b));
        return lr.mul(tb).sqrt().MoveToOuterDisposeScope();
    }

    public override Tensor DecodeBoxes(Tensor priors, Tensor regression) => BoxCoder.Decode(priors, regression);

    protected internal override Tensor CandidateScores(LevelPrediction level) =>
        level.ClassLogits.sigmoid().mul(level.Extra[FcosHead.CenternessTerm].sigmoid()).sqrt();
}
