using HpfDet.Assigners;
using HpfDet.Boxes;
using HpfDet.Losses;
using HpfDet.Models.Backbones;
using HpfDet.Models.Heads;
using HpfDet.Models.Necks;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Models;

/// <summary>Options of <see cref="PaaDetector"/>; defaults are mmdetection 2.x's paa_r50_fpn_1x settings but for the depth.</summary>
/// <param name="NumClasses">Object classes C.</param>
/// <param name="Backbone">ResNet options (depth, frozen stages, norm eval).</param>
/// <param name="FpnChannels">FPN output channels (256).</param>
/// <param name="HeadChannels">Channels of the head's stacked convs (256).</param>
/// <param name="HeadConvs">Stacked convs per head branch (4).</param>
/// <param name="HeadGroups">GroupNorm groups of the head (32).</param>
/// <param name="Anchors">Anchor generator (strides 8–128, octave base scale 8, one square anchor per location).</param>
/// <param name="FirstAssigner">The first assignment that gives the candidates (max IoU, positive from 0.1, background below 0.1, low-quality matches).</param>
/// <param name="Assigner">The probabilistic reassignment (top 9 per level, two-component mixture).</param>
/// <param name="BoxCoder">Delta coder (means 0, stds 0.1, 0.1, 0.2, 0.2).</param>
/// <param name="BoxLossWeight">Weight of the GIoU loss (1.3), also in the candidates' scores.</param>
/// <param name="IoULossWeight">Weight of the IoU-prediction BCE (0.5).</param>
/// <param name="Voting">Score voting after NMS (null: σ 0.025, IoU above 0.01).</param>
/// <param name="WithScoreVoting">Whether boxes are voted after NMS (true).</param>
/// <param name="Inference">Post-processing (NMS IoU 0.6).</param>
public sealed record PaaDetectorOptions(
    int NumClasses,
    ResNetOptions? Backbone = null,
    int FpnChannels = 256,
    int HeadChannels = 256,
    int HeadConvs = 4,
    int HeadGroups = 32,
    AnchorGeneratorOptions? Anchors = null,
    MaxIoUAssignerOptions? FirstAssigner = null,
    PaaAssignerOptions? Assigner = null,
    DeltaXYWHBoxCoderOptions? BoxCoder = null,
    double BoxLossWeight = 1.3,
    double IoULossWeight = 0.5,
    ScoreVoting? Voting = null,
    bool WithScoreVoting = true,
    InferenceOptions? Inference = null)
{
    /// <summary>The first assignment of mmdetection 2.x's PAA: pos_iou_thr = neg_iou_thr = 0.1, min_pos_iou 0.</summary>
    public static MaxIoUAssignerOptions DefaultFirstAssigner => new(PositiveIoU: 0.1, NegativeIoU: 0.1, AllowLowQualityMatches: true);
}

/// <summary>
/// PAA (Kim &amp; Lee, ECCV 2020: probabilistic anchor assignment with IoU prediction) as mmdetection 2.x
/// builds it: ATSS's head (its third branch predicts the IoU of the decoded box), one square anchor per
/// location, max-IoU candidates (IoU ≥ 0.1) scored by their current classification (focal) plus box
/// (GIoU ×1.3) loss, then per ground truth a two-component Gaussian mixture over the lowest-scoring
/// candidates separates positives from negatives (<see cref="PaaAssigner"/>). Losses: the classification
/// loss it is given, GIoU ×1.3 weighted by the IoU of each positive's decoded box, IoU-prediction BCE ×0.5.
/// At inference sqrt(class score · predicted IoU), NMS at 0.6, then score voting.
/// </summary>
public sealed class PaaDetector : DenseDetector
{
    /// <summary>Name of the IoU-prediction loss term.</summary>
    public const string IoUTerm = "iou";

    /// <summary>The head output that predicts the IoU: the third branch of <see cref="AtssHead"/>, as mmdetection's PAAHead reuses ATSS's.</summary>
    const string IoUOutput = AtssHead.CenternessTerm;

    /// <summary>Guards the box-loss normaliser Σ IoU when it is 0 (float32's ε, as mmdetection's weighted reduction).</summary>
    const double AverageEps = 1.1920928955078125e-07;

    /// <summary>Floor of the IoU weights of the box loss (mmdetection's EPS).</summary>
    const double IoUWeightFloor = 1e-12;

    public PaaDetectorOptions Options { get; }
    public AnchorGenerator AnchorGenerator { get; }
    public MaxIoUAssigner FirstAssigner { get; }
    public PaaAssigner Assigner { get; }
    public DeltaXYWHBoxCoder BoxCoder { get; }
    public GIoULoss BoxLoss { get; }

    /// <summary>Score voting after NMS, or null.</summary>
    public ScoreVoting? Voting { get; }

    /// <param name="options">Architecture and training options.</param>
    /// <param name="classificationLoss">The classification loss; null means focal loss (γ 2, α 0.25).</param>
    /// <param name="backbone">A ready backbone (for example with pretrained weights); null builds one from the options.</param>
    public PaaDetector(PaaDetectorOptions options, IClassificationLoss? classificationLoss = null, ResNet? backbone = null)
        : base("paa", Compose(options, classificationLoss, backbone))
    {
        Options = options;
        AnchorGenerator = new AnchorGenerator(options.Anchors);
        if (AnchorGenerator.NumAnchorsPerLocation != 1)
            throw new ArgumentException($"PAA uses one anchor per location; the anchor options give {AnchorGenerator.NumAnchorsPerLocation}.", nameof(options));
        if (AnchorGenerator.NumLevels != 5)
            throw new ArgumentException($"PAA has 5 pyramid levels; the anchor options give {AnchorGenerator.NumLevels} strides.", nameof(options));
        if (!(options.IoULossWeight >= 0)) throw new ArgumentOutOfRangeException(nameof(options), $"IoULossWeight must be >= 0, got {options.IoULossWeight}.");
        FirstAssigner = new MaxIoUAssigner(options.FirstAssigner ?? PaaDetectorOptions.DefaultFirstAssigner);
        Assigner = new PaaAssigner(options.Assigner);
        BoxCoder = new DeltaXYWHBoxCoder(options.BoxCoder);
        BoxLoss = new GIoULoss(options.BoxLossWeight);
        Voting = options.WithScoreVoting ? options.Voting ?? new ScoreVoting() : null;
    }

    /// <summary>PAA from the registry's common options (unset values: PAA's defaults).</summary>
    public PaaDetector(DetectorBuildOptions o) : this(new PaaDetectorOptions(o.NumClasses, o.Backbone.Options,
        o.FpnChannels ?? 256, o.HeadChannels ?? 256, o.HeadConvs ?? 4, o.HeadGroups ?? 32, Anchors: o.ScaledAnchors(new AnchorGeneratorOptions()),
        Inference: (o.Inference ?? new()).Apply(new InferenceOptions(NmsIoU: 0.6))), o.ClassificationLoss, o.Backbone)
    {
    }

    static DenseDetectorParts Compose(PaaDetectorOptions options, IClassificationLoss? loss, ResNet? backbone)
    {
        var resnet = backbone ?? new ResNet(options.Backbone);
        var neck = new Fpn(new FpnOptions(resnet.OutChannels, options.FpnChannels, NumOutputs: 5));
        var head = new AtssHead(new AtssHeadOptions(options.NumClasses, options.FpnChannels, options.HeadChannels, options.HeadConvs, options.HeadGroups, NumLevels: 5));
        return new DenseDetectorParts(options.NumClasses, resnet, neck, head, 1, loss ?? new SigmoidFocalLoss(), options.Inference ?? new InferenceOptions(NmsIoU: 0.6));
    }

    public override string Family => "paa";

    protected override IReadOnlyList<Tensor> GeneratePriors(IReadOnlyList<(int H, int W)> featureSizes, Device device) =>
        AnchorGenerator.GridAnchors(featureSizes, device);

    protected override IReadOnlyList<Tensor>? ValidPriors(IReadOnlyList<(int H, int W)> featureSizes, (int H, int W) imageSize, Device device) =>
        AnchorGenerator.ValidFlags(featureSizes, imageSize, device);

    /// <summary>Only the rule that reads the predictions applies: PAA cannot assign without them.</summary>
    protected override PriorAssignment Assign(PriorSet priors, DetectionTarget target, Tensor? valid) =>
        throw new InvalidOperationException("PAA assigns from the head's predictions; it is called through the overload that receives them.");

    /// <summary>
    /// The first assignment (max IoU over the anchors on the image; anchors on batch padding are ignored,
    /// crowd boxes take no part), then the probabilistic reassignment of its positives from their current
    /// losses: <see cref="CandidateScores(Tensor, Tensor, Tensor, Tensor, Tensor)"/> and <see cref="PaaAssigner"/>.
    /// </summary>
    protected override PriorAssignment Assign(PriorSet priors, DetectionTarget target, Tensor? valid, DenseHeadOutputs outputs, int image)
    {
        using var scope = torch.NewDisposeScope();
        var matches = FirstMatches(priors, target, valid);                                           // [N]
        var candidates = matches.ge(ScalarConstants.Zero).nonzero().squeeze(1);
        if (candidates.shape[0] > 0)
        {
            var gtIndex = matches.index_select(0, candidates);
            var logits = ImageRows(outputs.ClassLogits, image, NumClasses).index_select(0, candidates).detach();
            var regression = ImageRows(outputs.BoxRegression, image, BoxValuesPerPrior).index_select(0, candidates).detach();
            var scores = CandidateScores(priors.All.index_select(0, candidates), logits, regression,
                target.Boxes.index_select(0, gtIndex), target.Labels.index_select(0, gtIndex));
            var hostCandidates = candidates.cpu().data<long>().ToArray();
            var hostGt = gtIndex.cpu().data<long>().ToArray();
            var hostScores = scores.to(ScalarType.Float64).cpu().data<double>().ToArray();
            var levelStarts = Enumerable.Range(0, priors.CountsPerLevel.Length).Select(l => priors.Offset(l)).ToArray();
            var pool = new PaaCandidate[hostCandidates.Length];
            for (int i = 0; i < pool.Length; i++)
                pool[i] = new PaaCandidate((int)hostGt[i], Array.FindLastIndex(levelStarts, s => s <= hostCandidates[i]), hostScores[i]);
            var positive = Assigner.Reassign(pool);
            var reassigned = hostGt.Select((g, i) => positive[i] ? g : PriorAssignment.Background).ToArray();
            matches = matches.index_copy(0, candidates, torch.tensor(reassigned, device: matches.device));
        }
        var assignment = PriorAssignment.FromMatches(matches, target, priors.All, NumClasses);
        return new PriorAssignment(assignment.Labels.MoveToOuterDisposeScope(), assignment.MatchedBoxes.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Max-IoU matches ([N] int64: gt index, <see cref="PriorAssignment.Background"/>, <see cref="PriorAssignment.Ignored"/>)
    /// over the valid anchors and the non-crowd ground truth.
    /// </summary>
    Tensor FirstMatches(PriorSet priors, DetectionTarget target, Tensor? valid)
    {
        using var ignored = PriorAssignment.Ignored.ToScalar();
        var device = priors.All.device;
        var gtKept = target.IsCrowd is null ? null : target.IsCrowd.logical_not().nonzero().squeeze(1);
        var gtBoxes = gtKept is null ? target.Boxes : target.Boxes.index_select(0, gtKept);
        var validIndex = valid?.nonzero().squeeze(1);
        var anchors = validIndex is null ? priors.All : priors.All.index_select(0, validIndex);
        var local = FirstAssigner.Assign(anchors, gtBoxes);   // background -1, ignored -2: PriorAssignment's convention
        if (gtKept is not null && gtKept.shape[0] > 0)
            local = torch.where(local.ge(ScalarConstants.Zero), gtKept.index_select(0, local.clamp_min(ScalarConstants.Zero)), local);
        if (validIndex is null) return local;
        return torch.full(priors.All.shape[0], ignored, dtype: ScalarType.Int64, device: device).index_copy_(0, validIndex, local);
    }

    /// <summary>One image's rows of per-level outputs: [N, K] in prior order.</summary>
    static Tensor ImageRows(Tensor[] levels, int image, int valuesPerPrior) =>
        DenseHeadOutputs.Flatten(levels.Select(t => t.narrow(0, image, 1)).ToArray(), valuesPerPrior).squeeze(0);

    /// <summary>
    /// The score PAA ranks a candidate anchor by: its focal loss (γ 2, α 0.25, summed over classes, against
    /// its ground truth's class) plus <see cref="GIoULoss.LossWeight"/> × (1 - GIoU) of its decoded box.
    /// </summary>
    /// <param name="anchors">[K, 4] candidate anchors.</param>
    /// <param name="logits">[K, C] their class logits.</param>
    /// <param name="regression">[K, 4] their box regression.</param>
    /// <param name="gtBoxes">[K, 4] their ground-truth boxes.</param>
    /// <param name="gtLabels">[K] their ground-truth classes.</param>
    /// <returns>[K] scores, lower is better.</returns>
    public Tensor CandidateScores(Tensor anchors, Tensor logits, Tensor regression, Tensor gtBoxes, Tensor gtLabels)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        using var boxWeight = BoxLoss.LossWeight.ToScalar();
        var oneHot = nn.functional.one_hot(gtLabels, NumClasses).to(logits.dtype);
        var classification = SigmoidFocalLoss.Elementwise(logits, oneHot).sum(1);
        var decoded = BoxCoder.Decode(anchors.to(regression.dtype), regression);
        var box = BoxOps.AlignedGIoU(decoded, gtBoxes.to(regression.dtype), BoxLoss.Eps, BoxLoss.EpsMode).neg().add_(ScalarConstants.One, ScalarConstants.One).mul_(boxWeight);
        return classification.add_(box, ScalarConstants.One).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// GIoU ×1.3 of the positives weighted by the IoU of their decoded boxes (normalised by Σ IoU), and
    /// BCE of the IoU prediction against that IoU (by the positives), ×0.5.
    /// </summary>
    protected override IEnumerable<LossTerm> RegressionLosses(TrainingBatch batch)
    {
        var anchors = batch.PriorsPerImage().reshape(-1, 4);
        var targetBoxes = batch.MatchedBoxes.reshape(-1, 4);
        var positiveF = batch.PositiveF.reshape(-1);
        var decoded = BoxCoder.Decode(anchors, batch.BoxRegression().reshape(-1, 4));
        Tensor iouTarget, boxWeight, boxNormalizer;
        using (torch.no_grad())
        {
            using var floor = IoUWeightFloor.ToScalar();
            using var eps = AverageEps.ToScalar();
            iouTarget = BoxOps.AlignedIoU(decoded.detach(), targetBoxes).mul_(positiveF);
            boxWeight = iouTarget.clamp_min(floor).mul_(positiveF);
            boxNormalizer = iouTarget.sum().add_(eps, ScalarConstants.One);
        }
        var boxLoss = BoxLoss.Forward(decoded, targetBoxes, boxWeight, boxNormalizer);
        using var iouWeight = Options.IoULossWeight.ToScalar();
        var iouLogits = batch.Extra(IoUOutput, 1).reshape(-1);
        var iouLoss = nn.functional.binary_cross_entropy_with_logits(iouLogits, iouTarget, reduction: nn.Reduction.None)
            .mul(positiveF).sum().div(batch.Normalizer).mul(iouWeight);
        return [new LossTerm("box", boxLoss), new LossTerm(IoUTerm, iouLoss)];
    }

    public override Tensor DecodeBoxes(Tensor priors, Tensor regression) => BoxCoder.Decode(priors.to(regression.dtype), regression);

    /// <summary>sqrt(σ(class logit) · σ(IoU logit)): thresholded, ranked and suppressed on.</summary>
    protected internal override Tensor CandidateScores(LevelPrediction level) =>
        level.ClassLogits.sigmoid().mul(level.Extra[IoUOutput].sigmoid()).sqrt();

    /// <summary>Score voting of the kept detections' boxes when on.</summary>
    protected internal override Detections RefineDetections(Detections kept, Detections candidates) =>
        Voting is null ? kept : kept with { Boxes = Voting.Vote(kept.Boxes, kept.Labels, candidates.Boxes, candidates.Scores, candidates.Labels) };
}
