using HpfDet.Assigners;
using HpfDet.Boxes;
using HpfDet.Losses;
using HpfDet.Models.Backbones;
using HpfDet.Models.Heads;
using HpfDet.Models.Necks;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Models;

/// <summary>Options of <see cref="FsafDetector"/>; defaults are mmdetection 2.x's fsaf_r50_fpn_1x settings but for the depth.</summary>
/// <param name="NumClasses">Object classes C.</param>
/// <param name="Backbone">ResNet options.</param>
/// <param name="FpnChannels">FPN output channels (256).</param>
/// <param name="HeadChannels">Channels of the head's stacked convs (256).</param>
/// <param name="HeadConvs">Stacked convs per head branch (4).</param>
/// <param name="HeadGroups">Null: the head without normalisation (FSAF's); set: GroupNorm groups after each stacked conv.</param>
/// <param name="Strides">Strides of P3–P7 (8 … 128); one square prior of side = stride per location.</param>
/// <param name="Assigner">Centre-region assignment (effective and ignoring scales 0.2, IoF 0.01).</param>
/// <param name="BoxNormalizer">TBLR coder normaliser (4): targets are distances / (4·stride).</param>
/// <param name="FocalGamma">γ of the focal loss that, with the IoU loss, scores each level in the online level selection (2).</param>
/// <param name="FocalAlpha">α of that focal loss (0.25).</param>
/// <param name="IoUEps">IoUs are clamped to at least this before -log (1e-6).</param>
/// <param name="BoxLossWeight">Weight of the IoU loss (1).</param>
/// <param name="Inference">Post-processing (NMS IoU 0.5).</param>
public sealed record FsafDetectorOptions(
    int NumClasses,
    ResNetOptions? Backbone = null,
    int FpnChannels = 256,
    int HeadChannels = 256,
    int HeadConvs = 4,
    int? HeadGroups = null,
    int[]? Strides = null,
    CenterRegionAssignerOptions? Assigner = null,
    double BoxNormalizer = 4.0,
    double FocalGamma = 2.0,
    double FocalAlpha = 0.25,
    double IoUEps = 1e-6,
    double BoxLossWeight = 1.0,
    InferenceOptions? Inference = null);

/// <summary>The online feature selection of one image.</summary>
/// <param name="Matches">[N] int64 after the selection (<see cref="PriorAssignment.FromMatches"/>'s convention).</param>
/// <param name="LevelCosts">[L, G]: per level the mean (focal + IoU) loss of each gt's positives there, 1e6 where it has none.</param>
/// <param name="SelectedLevels">[G] int64: the level each gt is trained on (the lowest cost; the finest of equal costs).</param>
public sealed record FsafLevelSelection(Tensor Matches, Tensor LevelCosts, Tensor SelectedLevels);

/// <summary>
/// FSAF (Zhu et al., CVPR 2019), the anchor-free branch alone, as mmdetection 2.x builds it: one square prior
/// of side = stride per location used as a cell, the centre-region assignment over all levels, then the online
/// feature selection: each gt is trained only on the level where the mean focal + IoU loss of its positives is
/// lowest; its positives on the other levels are ignored. The classification loss it is given (focal loss by
/// default) then sees the selected levels; -log IoU of the decoded TBLR boxes of the positives; both over the
/// positives of the batch after the selection. At inference sigmoid scores, TBLR decoding, NMS at IoU 0.5.
/// </summary>
public sealed class FsafDetector : DenseDetector
{
    /// <summary>Level cost of a gt without positives on that level, so that it is never selected there.</summary>
    public const double NoPositivesCost = 1e6;

    /// <summary>Box distances are clamped to at least this in the loss, so that no decoded box has zero area.</summary>
    public const double MinDistance = 1e-4;

    public FsafDetectorOptions Options { get; }
    public AnchorGenerator PriorGenerator { get; }
    public CenterRegionAssigner Assigner { get; }
    public TblrBoxCoder BoxCoder { get; }

    /// <param name="options">Architecture and training options.</param>
    /// <param name="classificationLoss">The classification loss; null means focal loss (γ 2, α 0.25).</param>
    /// <param name="backbone">A ready backbone; null builds one from the options.</param>
    public FsafDetector(FsafDetectorOptions options, IClassificationLoss? classificationLoss = null, ResNet? backbone = null)
        : base("fsaf", Compose(options, classificationLoss, backbone))
    {
        Options = options;
        PriorGenerator = new AnchorGenerator(new AnchorGeneratorOptions(options.Strides, OctaveBaseScale: 1, ScalesPerOctave: 1, CenterOffset: 0));
        if (PriorGenerator.NumLevels != 5)
            throw new ArgumentException($"FSAF has 5 pyramid levels; the options give {PriorGenerator.NumLevels} strides.", nameof(options));
        Assigner = new CenterRegionAssigner(options.Assigner);
        BoxCoder = new TblrBoxCoder(options.BoxNormalizer);
    }

    /// <summary>FSAF from the registry's common options (unset values: mmdetection's; the head takes the FPN's channels unless told).</summary>
    public FsafDetector(DetectorBuildOptions o) : this(new FsafDetectorOptions(o.NumClasses, o.Backbone.Options,
        o.FpnChannels ?? 256, o.HeadChannels ?? o.FpnChannels ?? 256, o.HeadConvs ?? 4, o.HeadGroups,
        Inference: (o.Inference ?? new()).Apply(new InferenceOptions(NmsIoU: 0.5))), o.ClassificationLoss, o.Backbone)
    {
    }

    static DenseDetectorParts Compose(FsafDetectorOptions options, IClassificationLoss? loss, ResNet? backbone)
    {
        var resnet = backbone ?? new ResNet(options.Backbone);
        var neck = new Fpn(new FpnOptions(resnet.OutChannels, options.FpnChannels, NumOutputs: 5));
        var head = new FsafHead(new FsafHeadOptions(options.NumClasses, options.FpnChannels, options.HeadChannels, options.HeadConvs, options.HeadGroups));
        return new DenseDetectorParts(options.NumClasses, resnet, neck, head, 1, loss ?? new SigmoidFocalLoss(), options.Inference ?? new InferenceOptions(NmsIoU: 0.5));
    }

    public override string Family => "fsaf";

    protected override IReadOnlyList<Tensor> GeneratePriors(IReadOnlyList<(int H, int W)> featureSizes, Device device) =>
        PriorGenerator.GridAnchors(featureSizes, device);

    /// <summary>Priors on batch padding take no part (mmdetection's valid flags with allowed_border -1).</summary>
    protected override IReadOnlyList<Tensor>? ValidPriors(IReadOnlyList<(int H, int W)> featureSizes, (int H, int W) imageSize, Device device) =>
        PriorGenerator.ValidFlags(featureSizes, imageSize, device);

    /// <summary>The centre-region assignment on every level, without the level selection (which needs the head's outputs).</summary>
    protected override PriorAssignment Assign(PriorSet priors, DetectionTarget target, Tensor? valid)
    {
        using var assignment = CentreRegions(priors, target, valid);
        return PriorAssignment.FromMatches(assignment.Matches, target, priors.All, NumClasses);
    }

    /// <summary>The centre-region assignment, then the online feature selection on the image's detached outputs.</summary>
    protected override PriorAssignment Assign(PriorSet priors, DetectionTarget target, Tensor? valid, DenseHeadOutputs outputs, int image)
    {
        var selection = AssignAndSelect(priors, target, valid, outputs, image);
        return PriorAssignment.FromMatches(selection.Matches, target, priors.All, NumClasses);
    }

    sealed record CentreRegionMatches(Tensor Matches, Tensor ShadowedClasses) : IDisposable
    {
        public void Dispose() { Matches.Dispose(); ShadowedClasses.Dispose(); }
    }

    CentreRegionMatches CentreRegions(PriorSet priors, DetectionTarget target, Tensor? valid)
    {
        var result = Assigner.Assign(priors.All, target.Boxes, target.Labels, NumClasses, target.IsCrowd);
        var matches = result.Matches;
        if (valid is not null)
        {
            using var ignored = PriorAssignment.Ignored.ToScalar();
            matches = matches.masked_fill(valid.logical_not(), ignored);
            result.Matches.Dispose();
        }
        return new CentreRegionMatches(matches, result.ShadowedClasses);
    }

    /// <summary>
    /// The centre-region assignment of one image and the online feature selection: per level and gt, the
    /// mean over its positives of Σ_c focal loss (classes shadowed at a prior weigh 0) + -log IoU of the
    /// decoded box; each gt keeps its positives on its cheapest level only (argmin: the finest of equal
    /// costs); its positives elsewhere are ignored. Runs without gradient.
    /// </summary>
    /// <param name="priors">The priors.</param>
    /// <param name="target">The image's ground truth, on the priors' device.</param>
    /// <param name="valid">[N] bool valid priors, or null.</param>
    /// <param name="outputs">The batch's head outputs.</param>
    /// <param name="image">The image's index in the batch.</param>
    public FsafLevelSelection AssignAndSelect(PriorSet priors, DetectionTarget target, Tensor? valid, DenseHeadOutputs outputs, int image)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        using var regions = CentreRegions(priors, target, valid);
        var matches = regions.Matches;
        int numLevels = priors.CountsPerLevel.Length;
        long numGts = target.Boxes.shape[0];
        var device = matches.device;
        var positives = matches.ge(ScalarConstants.Zero).nonzero().squeeze(1);                 // [P]
        using var noPositives = NoPositivesCost.ToScalar();
        if (numGts == 0 || positives.shape[0] == 0)
            return new FsafLevelSelection(matches.clone().MoveToOuterDisposeScope(),
                torch.full(numLevels, numGts, noPositives, dtype: ScalarType.Float32, device: device).MoveToOuterDisposeScope(),
                torch.zeros(numGts, dtype: ScalarType.Int64, device: device).MoveToOuterDisposeScope());

        var logits = RowsOf(outputs.ClassLogits, image, NumClasses).index_select(0, positives).to(ScalarType.Float32);   // [P, C]
        using var minDistance = MinDistance.ToScalar();
        var distances = RowsOf(outputs.BoxRegression, image, 4).index_select(0, positives).to(ScalarType.Float32).clamp_min(minDistance);
        var gt = matches.index_select(0, positives);                                                                      // [P]
        var labels = target.Labels.to(device).index_select(0, gt);
        var classTargets = nn.functional.one_hot(labels, NumClasses);
        var classWeights = regions.ShadowedClasses.index_select(0, positives).logical_not().to(ScalarType.Float32);
        var classCost = SigmoidFocalLoss.Elementwise(logits, classTargets, Options.FocalGamma, Options.FocalAlpha).mul_(classWeights).sum(1);
        var decoded = BoxCoder.Decode(priors.All.index_select(0, positives), distances);
        var gtBoxes = target.Boxes.to(ScalarType.Float32, device).index_select(0, gt);
        using var eps = Options.IoUEps.ToScalar();
        using var boxWeight = Options.BoxLossWeight.ToScalar();
        var boxCost = BoxOps.AlignedIoU(decoded, gtBoxes).clamp_min(eps).log_().neg_().mul_(boxWeight);
        var cost = classCost.add(boxCost, ScalarConstants.One);                                                          // [P]

        var level = LevelOfPriors(priors, device).index_select(0, positives);
        using var gts = numGts.ToScalar();
        var key = level.mul(gts).add_(gt, ScalarConstants.One);                                                           // level·G + gt
        var sums = torch.zeros(numLevels * numGts, dtype: ScalarType.Float32, device: device).index_add_(0, key, cost, ScalarConstants.One);
        var counts = torch.zeros(numLevels * numGts, dtype: ScalarType.Float32, device: device).index_add_(0, key, torch.ones_like(cost), ScalarConstants.One);
        var levelCosts = torch.where(counts.gt(ScalarConstants.ZeroDouble), sums.div(counts.clamp_min(ScalarConstants.OneDouble)), torch.full_like(sums, noPositives))
            .reshape(numLevels, numGts);
        var selected = levelCosts.argmin(0);                                                                              // [G]
        var deselected = selected.index_select(0, gt).ne(level);
        using var ignored = PriorAssignment.Ignored.ToScalar();
        var selectedMatches = matches.clone().index_fill_(0, positives.masked_select(deselected), ignored);
        return new FsafLevelSelection(selectedMatches.MoveToOuterDisposeScope(), levelCosts.MoveToOuterDisposeScope(), selected.MoveToOuterDisposeScope());
    }

    /// <summary>One image's per-level outputs [1, K, H, W] as [N, K] rows in prior order, detached.</summary>
    static Tensor RowsOf(Tensor[] levels, int image, int valuesPerPrior) =>
        torch.cat(levels.Select(t => t[image].detach().permute(1, 2, 0).reshape(-1, valuesPerPrior)).ToArray(), 0);

    /// <summary>[N] int64: the level of each prior.</summary>
    static Tensor LevelOfPriors(PriorSet priors, Device device) =>
        torch.cat(priors.CountsPerLevel.Select((n, l) => { using var s = l.ToScalar(); return torch.full(n, s, dtype: ScalarType.Int64, device: device); }).ToArray(), 0);

    /// <summary>-log IoU (IoU clamped to at least 1e-6) of the decoded boxes of the positives, over the positives of the batch.</summary>
    protected override IEnumerable<LossTerm> RegressionLosses(TrainingBatch batch)
    {
        using var minDistance = MinDistance.ToScalar();
        using var eps = Options.IoUEps.ToScalar();
        using var weight = Options.BoxLossWeight.ToScalar();
        var priors = batch.PriorsPerImage().reshape(-1, 4);
        var decoded = BoxCoder.Decode(priors, batch.BoxRegression().reshape(-1, 4).clamp_min(minDistance));
        var loss = BoxOps.AlignedIoU(decoded, batch.MatchedBoxes.reshape(-1, 4)).clamp_min(eps).log().neg()
            .mul(batch.PositiveF.reshape(-1)).sum().div(batch.Normalizer).mul(weight);
        return [new LossTerm("box", loss)];
    }

    public override Tensor DecodeBoxes(Tensor priors, Tensor regression) => BoxCoder.Decode(priors.to(regression.dtype), regression);
}
