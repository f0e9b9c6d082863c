using HpfDet.Assigners;
using HpfDet.Boxes;
using HpfDet.Losses;
using HpfDet.Models.Backbones;
using HpfDet.Models.Heads;
using HpfDet.Models.Necks;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Models;

/// <summary>Options of <see cref="YolofDetector"/>; defaults are mmdetection 2.x's yolof_r50_c5_8x8_1x but for the depth.</summary>
/// <param name="NumClasses">Object classes C.</param>
/// <param name="Backbone">ResNet options (depth, frozen stages, norm eval); only its C5 is used.</param>
/// <param name="EncoderChannels">Channels of the dilated encoder's output, also the head's (512).</param>
/// <param name="EncoderMidChannels">Middle channels of the encoder's residual blocks (128).</param>
/// <param name="EncoderDilations">Dilations of the encoder's residual blocks (null: 2, 4, 6, 8).</param>
/// <param name="ClassConvs">Stacked convs of the classification branch (2).</param>
/// <param name="RegressionConvs">Stacked convs of the regression branch (4).</param>
/// <param name="Anchors">Anchor generator (null: <see cref="YolofDetector.DefaultAnchors"/>, stride 32, sides 32–512).</param>
/// <param name="Assigner">Uniform matching (4 matches, ignore IoUs 0.15 and 0.7).</param>
/// <param name="BoxCoder">Delta coder (null: <see cref="DeltaXYWHBoxCoderOptions.Yolof"/>, stds 1, centre clamp 32).</param>
/// <param name="BoxLossWeight">Weight of the GIoU loss (1).</param>
/// <param name="Inference">Post-processing (NMS IoU 0.6).</param>
public sealed record YolofDetectorOptions(
    int NumClasses,
    ResNetOptions? Backbone = null,
    int EncoderChannels = 512,
    int EncoderMidChannels = 128,
    int[]? EncoderDilations = null,
    int ClassConvs = 2,
    int RegressionConvs = 4,
    AnchorGeneratorOptions? Anchors = null,
    UniformAssignerOptions? Assigner = null,
    DeltaXYWHBoxCoderOptions? BoxCoder = null,
    double BoxLossWeight = 1.0,
    InferenceOptions? Inference = null);

/// <summary>
/// YOLOF, You Only Look One-level Feature (Chen et al., CVPR 2021), as mmdetection 2.x builds it: only the
/// backbone's C5 (stride 32) feeds a dilated encoder, and one level of five square anchors per location
/// (sides 32·{1, 2, 4, 8, 16}) carries every object. Uniform matching gives each ground truth its 4 nearest
/// anchors and 4 nearest predicted boxes (L1 on centre and size), ignoring matches whose anchor IoU is below
/// 0.15 and negatives whose prediction overlaps a ground truth by more than 0.7. The head's class logits carry
/// an implicit objectness; the classification loss it is given (focal loss by default) and GIoU on the
/// decoded boxes of every match are divided by the positives. At inference sigmoid scores, NMS at IoU 0.6.
/// With its single level, HPF (<c>--loss hpf</c>) has one γ only: progressive focus without the hierarchy
/// over levels.
/// </summary>
public sealed class YolofDetector : DenseDetector
{
    public YolofDetectorOptions Options { get; }
    public AnchorGenerator AnchorGenerator { get; }
    public UniformAssigner Assigner { get; }
    public DeltaXYWHBoxCoder BoxCoder { get; }
    public GIoULoss BoxLoss { get; }

    /// <summary>The matches of the images of the batch being assigned, in image order, for the box loss.</summary>
    readonly List<MatchPairs> pendingPairs = new();

    /// <summary>One image's matches: prior indices [P], the matched gt boxes [P, 4], and their box-loss weights [P].</summary>
    sealed record MatchPairs(Tensor Priors, Tensor Boxes, Tensor Weights);

    /// <summary>YOLOF's anchors: stride 32, ratio 1, sides 32 × (1, 2, 4, 8, 16), no centre offset.</summary>
    public static AnchorGeneratorOptions DefaultAnchors() => new(Strides: [32], Sizes: [[32, 64, 128, 256, 512]]);

    /// <param name="options">Architecture and training options.</param>
    /// <param name="classificationLoss">The classification loss; null means focal loss (γ 2, α 0.25).</param>
    /// <param name="backbone">A ready backbone (for example with pretrained weights); null builds one from the options.</param>
    public YolofDetector(YolofDetectorOptions options, IClassificationLoss? classificationLoss = null, ResNet? backbone = null)
        : base("yolof", Compose(options, classificationLoss, backbone))
    {
        Options = options;
        AnchorGenerator = new AnchorGenerator(options.Anchors ?? DefaultAnchors());
        if (AnchorGenerator.NumLevels != 1)
            throw new ArgumentException($"YOLOF has one level; the anchor options give {AnchorGenerator.NumLevels} strides.", nameof(options));
        Assigner = new UniformAssigner(options.Assigner);
        BoxCoder = new DeltaXYWHBoxCoder(options.BoxCoder ?? DeltaXYWHBoxCoderOptions.Yolof());
        BoxLoss = new GIoULoss(options.BoxLossWeight);
    }

    /// <summary>
    /// YOLOF from the registry's common options. Unset values take YOLOF's defaults. model.fpn_channels sets
    /// the encoder's (and head's) channels, with the blocks' middle channels a quarter of it (512 : 128);
    /// model.head_convs sets the regression branch's convs, the classification branch keeping half of them
    /// (4 : 2); the head has BatchNorm, so model.head_groups does not apply.
    /// </summary>
    public YolofDetector(DetectorBuildOptions o) : this(new YolofDetectorOptions(o.NumClasses, o.Backbone.Options,
        EncoderChannels(o), o.FpnChannels is { } c ? Math.Max(1, c / 4) : 128,
        ClassConvs: o.HeadConvs is { } n ? Math.Max(1, n / 2) : 2, RegressionConvs: o.HeadConvs ?? 4, Anchors: o.ScaledAnchors(DefaultAnchors()),
        Inference: (o.Inference ?? new()).Apply(new InferenceOptions(NmsIoU: 0.6))), o.ClassificationLoss, o.Backbone)
    {
    }

    static int EncoderChannels(DetectorBuildOptions o)
    {
        int channels = o.FpnChannels ?? o.HeadChannels ?? 512;
        if (o.HeadChannels is { } head && head != channels)
            throw new HpfDetException($"YOLOF's head keeps the encoder's channels: model.head_channels ({head}) must equal model.fpn_channels ({channels}) or be left unset.");
        return channels;
    }

    static DenseDetectorParts Compose(YolofDetectorOptions options, IClassificationLoss? loss, ResNet? backbone)
    {
        var resnet = backbone ?? new ResNet(options.Backbone);
        var neck = new DilatedEncoder(new DilatedEncoderOptions(resnet.OutChannels[^1], options.EncoderChannels, options.EncoderMidChannels, options.EncoderDilations));
        int anchors = new AnchorGenerator(options.Anchors ?? DefaultAnchors()).NumAnchorsPerLocation;
        var head = new YolofHead(new YolofHeadOptions(options.NumClasses, options.EncoderChannels, options.ClassConvs, options.RegressionConvs, anchors));
        return new DenseDetectorParts(options.NumClasses, resnet, neck, head, anchors, loss ?? new SigmoidFocalLoss(), options.Inference ?? new InferenceOptions(NmsIoU: 0.6));
    }

    public override string Family => "yolof";

    protected override IReadOnlyList<Tensor> GeneratePriors(IReadOnlyList<(int H, int W)> featureSizes, Device device) =>
        AnchorGenerator.GridAnchors(featureSizes, device);

    /// <summary>Anchors on locations covering the image (mmdetection's valid flags; YOLOF allows any border).</summary>
    protected override IReadOnlyList<Tensor>? ValidPriors(IReadOnlyList<(int H, int W)> featureSizes, (int H, int W) imageSize, Device device) =>
        AnchorGenerator.ValidFlags(featureSizes, imageSize, device);

    /// <summary>Uniform matching needs the predicted boxes: only the overload with the head's outputs assigns.</summary>
    protected override PriorAssignment Assign(PriorSet priors, DetectionTarget target, Tensor? valid) =>
        throw new InvalidOperationException("YOLOF's uniform matching reads the head's predictions; ComputeLosses assigns through the overload that has them.");

    /// <summary>
    /// Uniform matching of the image's valid anchors and their decoded (detached) predictions; anchors on
    /// batch padding are ignored. Crowd boxes take no part (they are no training target). The matches are
    /// kept for the box loss of this batch.
    /// </summary>
    protected override PriorAssignment Assign(PriorSet priors, DetectionTarget target, Tensor? valid, DenseHeadOutputs outputs, int image)
    {
        if (image == 0) pendingPairs.Clear();
        if (pendingPairs.Count != image)
            throw new InvalidOperationException($"YOLOF assigns the images of a batch in order; got image {image} after {pendingPairs.Count}.");
        if (target.IsCrowd is { } crowd)
        {
            var keep = crowd.logical_not().nonzero().squeeze(1);
            target = new DetectionTarget(target.Boxes.index_select(0, keep), target.Labels.index_select(0, keep));
        }
        var regression = DenseHeadOutputs.FlattenLevel(outputs.BoxRegression[0].narrow(0, image, 1).detach(), 4)[0];   // [N, 4]
        var anchors = priors.All.to(regression.dtype);
        var predictions = BoxCoder.Decode(anchors, regression);
        var validIndex = valid?.nonzero().squeeze(1);
        var result = validIndex is null
            ? Assigner.Assign(anchors, predictions, target.Boxes)
            : Assigner.Assign(anchors.index_select(0, validIndex), predictions.index_select(0, validIndex), target.Boxes);
        var matches = result.Matches;
        var pairPriors = result.PairPriors;
        if (validIndex is not null)
        {
            using var ignored = PriorAssignment.Ignored.ToScalar();
            matches = torch.full(priors.All.shape[0], ignored, dtype: ScalarType.Int64, device: anchors.device).index_copy_(0, validIndex, result.Matches);
            pairPriors = validIndex.index_select(0, result.PairPriors);
        }
        var pairBoxes = target.Boxes.index_select(0, result.PairGts);
        pendingPairs.Add(new MatchPairs(pairPriors, pairBoxes, result.PairWeights));
        // The assigner's background and ignore values are FromMatches' own.
        return PriorAssignment.FromMatches(matches, target, priors.All, NumClasses);
    }

    /// <summary>
    /// GIoU of the decoded predictions of every match (2·4 per ground truth, a prior counted once per match,
    /// ignored matches weighted 0) with their ground truth, divided by Σ over images of max(1, positives).
    /// </summary>
    protected override IEnumerable<LossTerm> RegressionLosses(TrainingBatch batch)
    {
        if (pendingPairs.Count != batch.BatchSize)
            throw new InvalidOperationException($"YOLOF's box loss needs the matches of all {batch.BatchSize} images; {pendingPairs.Count} were assigned.");
        var regression = batch.BoxRegression();                                                  // [B, N, 4]
        long n = batch.NumPriors;
        var rows = new List<Tensor>();
        for (int b = 0; b < pendingPairs.Count; b++)
        {
            using var offset = (b * n).ToScalar();
            rows.Add(pendingPairs[b].Priors.add(offset, ScalarConstants.One));
        }
        var pairRows = torch.cat(rows.ToArray(), 0);
        var pairPriors = torch.cat(pendingPairs.Select(p => p.Priors).ToArray(), 0);
        var targets = torch.cat(pendingPairs.Select(p => p.Boxes).ToArray(), 0).to(regression.dtype);
        var weights = torch.cat(pendingPairs.Select(p => p.Weights).ToArray(), 0).to(regression.dtype);
        pendingPairs.Clear();
        Tensor boxLoss;
        if (pairRows.shape[0] == 0)
            boxLoss = regression.sum().mul(ScalarConstants.ZeroDouble);
        else
        {
            var decoded = BoxCoder.Decode(batch.Priors.All.index_select(0, pairPriors).to(regression.dtype), regression.reshape(-1, 4).index_select(0, pairRows));
            var normalizer = batch.PositivesPerImage.clamp_min(ScalarConstants.OneDouble).sum();
            boxLoss = BoxLoss.Forward(decoded, targets, weights, normalizer);
        }
        return [new LossTerm("box", boxLoss)];
    }

    public override Tensor DecodeBoxes(Tensor priors, Tensor regression) => BoxCoder.Decode(priors.to(regression.dtype), regression);
}
