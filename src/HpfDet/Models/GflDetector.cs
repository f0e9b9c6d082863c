using HpfDet.Assigners;
using HpfDet.Boxes;
using HpfDet.Losses;
using HpfDet.Models.Backbones;
using HpfDet.Models.Heads;
using HpfDet.Models.Necks;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Models;

/// <summary>Options of <see cref="GflDetector"/>; defaults are mmdetection 2.x's gfl_r50_fpn_1x settings but for the depth.</summary>
/// <param name="NumClasses">Object classes C.</param>
/// <param name="Backbone">ResNet options (depth, frozen stages, norm eval).</param>
/// <param name="FpnChannels">FPN output channels (256).</param>
/// <param name="HeadChannels">Channels of the head's stacked convs (256).</param>
/// <param name="HeadConvs">Stacked convs per head branch (4).</param>
/// <param name="HeadGroups">GroupNorm groups of the head (32).</param>
/// <param name="Anchors">Anchor generator (strides 8–128, octave base scale 8, one square anchor per location): the priors the ATSS assigner ranks; their centres are the points the distances start from.</param>
/// <param name="Assigner">ATSS assigner (top 9 per level).</param>
/// <param name="RegMax">Largest bin of each side's distance distribution, in strides (16).</param>
/// <param name="DistanceClampEps">Encoded target distances are clamped to RegMax - this (0.1, mmdetection's bbox2distance eps).</param>
/// <param name="BoxLossWeight">Weight of the GIoU loss (2).</param>
/// <param name="DflLossWeight">Weight of the distribution focal loss (0.25).</param>
/// <param name="Inference">Post-processing (score 0.05, top 1000 per level, NMS 0.6, 100 per image).</param>
public sealed record GflDetectorOptions(
    int NumClasses,
    ResNetOptions? Backbone = null,
    int FpnChannels = 256,
    int HeadChannels = 256,
    int HeadConvs = 4,
    int HeadGroups = 32,
    AnchorGeneratorOptions? Anchors = null,
    AtssAssignerOptions? Assigner = null,
    int RegMax = 16,
    double DistanceClampEps = 0.1,
    double BoxLossWeight = 2.0,
    double DflLossWeight = 0.25,
    InferenceOptions? Inference = null);

/// <summary>
/// GFL, Generalized Focal Loss (Li et al., NeurIPS 2020), as mmdetection 2.x's GFLHead builds it: one square
/// anchor per location assigned by ATSS over the anchors on the image; each side's distance from the
/// anchor centre (in strides) is a distribution over 0 … RegMax whose expectation is the distance. The
/// classification loss it is given (quality focal loss natively) learns a joint class–IoU score: the
/// target of a positive is the IoU of its decoded (detached) box with its ground truth. Box losses on
/// the positives: GIoU ×2 on the decoded boxes and distribution focal loss ×0.25 on the two bins around
/// each target distance, both weighted by the detached max class score and divided by the sum of those
/// weights (DFL by four times it, one term per side). At inference the sigmoid scores alone rank.
/// </summary>
public sealed class GflDetector : DenseDetector
{
    public GflDetectorOptions Options { get; }
    public AnchorGenerator AnchorGenerator { get; }
    public AtssAssigner Assigner { get; }
    public DistanceDistributionCoder BoxCoder { get; }
    public GIoULoss BoxLoss { get; }
    public DistributionFocalLoss DistributionLoss { get; }

    /// <summary>Name of the distribution focal loss term.</summary>
    public const string DistributionTerm = "dfl";

    /// <param name="options">Architecture and training options.</param>
    /// <param name="classificationLoss">The classification loss; null means quality focal loss (β 2).</param>
    /// <param name="backbone">A ready backbone (for example with pretrained weights); null builds one from the options.</param>
    public GflDetector(GflDetectorOptions options, IClassificationLoss? classificationLoss = null, ResNet? backbone = null)
        : base("gfl", Compose(options, classificationLoss, backbone))
    {
        Options = options;
        AnchorGenerator = new AnchorGenerator(options.Anchors);
        var anchors = AnchorGenerator.Options;
        if (anchors.Sizes is not null || anchors.ScalesPerOctave != 1 || anchors.Ratios is not [1.0])
            throw new ArgumentException("GFL uses one square anchor per location (octave scales only, one scale, ratio 1): a prior's stride is its side / OctaveBaseScale.", nameof(options));
        if (AnchorGenerator.NumLevels != 5)
            throw new ArgumentException($"GFL has 5 pyramid levels; the anchor options give {AnchorGenerator.NumLevels} strides.", nameof(options));
        Assigner = new AtssAssigner(options.Assigner);
        BoxCoder = new DistanceDistributionCoder(options.RegMax, options.DistanceClampEps);
        BoxLoss = new GIoULoss(options.BoxLossWeight);
        DistributionLoss = new DistributionFocalLoss(options.DflLossWeight);
    }

    /// <summary>GFL from the registry's common options (unset values: GFL's defaults).</summary>
    public GflDetector(DetectorBuildOptions o) : this(new GflDetectorOptions(o.NumClasses, o.Backbone.Options,
        o.FpnChannels ?? 256, o.HeadChannels ?? 256, o.HeadConvs ?? 4, o.HeadGroups ?? 32, Anchors: o.ScaledAnchors(new AnchorGeneratorOptions()),
        Inference: (o.Inference ?? new()).Apply(new InferenceOptions(NmsIoU: 0.6))), o.ClassificationLoss, o.Backbone)
    {
    }

    static DenseDetectorParts Compose(GflDetectorOptions options, IClassificationLoss? loss, ResNet? backbone)
    {
        var resnet = backbone ?? new ResNet(options.Backbone);
        var neck = new Fpn(new FpnOptions(resnet.OutChannels, options.FpnChannels, NumOutputs: 5));
        var head = new GflHead(new GflHeadOptions(options.NumClasses, options.FpnChannels, options.HeadChannels, options.HeadConvs, options.HeadGroups, NumLevels: 5, RegMax: options.RegMax));
        return new DenseDetectorParts(options.NumClasses, resnet, neck, head, 1, loss ?? new QualityFocalLoss(),
            options.Inference ?? new InferenceOptions(NmsIoU: 0.6), head.BoxValuesPerPrior);
    }

    public override string Family => "gfl";

    protected override IReadOnlyList<Tensor> GeneratePriors(IReadOnlyList<(int H, int W)> featureSizes, Device device) =>
        AnchorGenerator.GridAnchors(featureSizes, device);

    protected override IReadOnlyList<Tensor>? ValidPriors(IReadOnlyList<(int H, int W)> featureSizes, (int H, int W) imageSize, Device device) =>
        AnchorGenerator.ValidFlags(featureSizes, imageSize, device);

    /// <summary>
    /// The ATSS assigner over the valid anchors only (its per-level top-k counts them), as ATSS does;
    /// anchors on batch padding are ignored (label -1: no loss).
    /// </summary>
    protected override PriorAssignment Assign(PriorSet priors, DetectionTarget target, Tensor? valid) =>
        AtssDetector.AssignOverValidAnchors(Assigner, priors, target, valid, NumClasses, PriorAssignment.Ignored);

    /// <summary>Each prior's level stride, [K] from anchors [K, 4]: the anchor side is OctaveBaseScale strides.</summary>
    public Tensor PriorStrides(Tensor anchors)
    {
        using var baseScale = AnchorGenerator.Options.OctaveBaseScale.ToScalar();
        return anchors.select(-1, 2).sub(anchors.select(-1, 0)).div(baseScale);
    }

    /// <summary>The soft targets of the joint class–quality score: <see cref="PositiveIoU"/>.</summary>
    protected override Tensor QualityTargets(TrainingBatch batch) => PositiveIoU(batch);

    /// <summary>
    /// The IoU of each positive's decoded box (its distributions' expectations, detached) with its
    /// ground truth, 0 elsewhere, [B, N].
    /// </summary>
    public Tensor PositiveIoU(TrainingBatch batch)
    {
        using var _ = torch.no_grad();
        var decoded = DecodeBoxes(batch.PriorsPerImage().reshape(-1, 4), batch.BoxRegression().reshape(-1, BoxValuesPerPrior));
        return BoxOps.AlignedIoU(decoded, batch.MatchedBoxes.reshape(-1, 4)).reshape(batch.BatchSize, -1).mul_(batch.PositiveF);
    }

    /// <summary>
    /// Per prior [B·N], the detached max sigmoid class score of positives (0 elsewhere): the weight of
    /// each positive's box terms, so that boxes the classifier is sure of count most.
    /// </summary>
    public Tensor BoxTermWeights(TrainingBatch batch)
    {
        using var _ = torch.no_grad();
        var logits = DenseHeadOutputs.Flatten(batch.Outputs.ClassLogits, NumClasses).detach();
        return logits.max(-1).values.sigmoid().reshape(-1).mul(batch.PositiveF.reshape(-1));
    }

    /// <summary>
    /// GIoU ×2 on the decoded boxes and DFL ×0.25 on each side's distribution, over the positives,
    /// weighted by <see cref="BoxTermWeights"/> and divided by max(1, Σ weights) (DFL: by 4·that, as
    /// each positive has four sides). Boxes are compared in stride units, as the distributions are.
    /// </summary>
    public IReadOnlyList<LossTerm> BoxLosses(TrainingBatch batch)
    {
        var anchors = batch.PriorsPerImage().reshape(-1, 4);
        var strides = PriorStrides(anchors);
        var regression = batch.BoxRegression().reshape(-1, BoxValuesPerPrior);
        var weights = BoxTermWeights(batch);
        var normalizer = weights.sum().clamp_min(ScalarConstants.OneDouble);
        Tensor centresInStrides, targetInStrides, targetDistances;
        using (torch.no_grad())
        {
            centresInStrides = DistanceDistributionCoder.Centres(anchors).div(strides.unsqueeze(1));
            targetInStrides = batch.MatchedBoxes.reshape(-1, 4).div(strides.unsqueeze(1));
            targetDistances = BoxCoder.Encode(centresInStrides, targetInStrides);
        }
        var decoded = DistanceDistributionCoder.DecodeDistances(centresInStrides, BoxCoder.Integral(regression));
        var boxLoss = BoxLoss.Forward(decoded, targetInStrides, weights, normalizer);
        using var sides = 4.0.ToScalar();
        var dflLoss = DistributionLoss.Forward(regression.reshape(-1, BoxCoder.RegMax + 1), targetDistances.reshape(-1),
            weights.unsqueeze(1).expand(-1, 4).reshape(-1), normalizer.mul(sides));
        return [new LossTerm("box", boxLoss), new LossTerm(DistributionTerm, dflLoss)];
    }

    protected override IEnumerable<LossTerm> RegressionLosses(TrainingBatch batch) => BoxLosses(batch);

    /// <summary>Boxes from anchors [K, 4] and distribution logits [K, 4·(RegMax+1)]: the anchor centre ± the expected distances × the stride.</summary>
    public override Tensor DecodeBoxes(Tensor priors, Tensor regression) =>
        BoxCoder.Decode(DistanceDistributionCoder.Centres(priors), regression, PriorStrides(priors));
}
