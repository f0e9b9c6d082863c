using HpfDet.Assigners;
using HpfDet.Boxes;
using HpfDet.Losses;
using HpfDet.Models.Backbones;
using HpfDet.Models.Heads;
using HpfDet.Models.Necks;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Models;

/// <summary>Options of <see cref="RetinaNetDetector"/>; defaults are torchvision 0.14's RetinaNet but for the depth.</summary>
/// <param name="NumClasses">Object classes C.</param>
/// <param name="Backbone">ResNet options (depth, frozen stages, norm eval).</param>
/// <param name="FpnChannels">FPN output channels, also the head's (torchvision: 256).</param>
/// <param name="HeadConvs">Stacked convs per head branch (torchvision: 4).</param>
/// <param name="HeadGroups">Null: torchvision's head without normalisation; set: GroupNorm groups after each stacked conv (the retinanet_resnet50_fpn_v2 head).</param>
/// <param name="Anchors">Anchor generator (null: <see cref="AnchorGeneratorOptions.TorchvisionRetinaNet"/>).</param>
/// <param name="Assigner">Matcher (IoU 0.5 / 0.4, low-quality matches).</param>
/// <param name="BoxCoder">Box coder (null: <see cref="DeltaXYWHBoxCoderOptions.Torchvision"/>).</param>
/// <param name="Inference">Post-processing (NMS IoU 0.5).</param>
public sealed record RetinaNetDetectorOptions(
    int NumClasses,
    ResNetOptions? Backbone = null,
    int FpnChannels = 256,
    int HeadConvs = 4,
    int? HeadGroups = null,
    AnchorGeneratorOptions? Anchors = null,
    MaxIoUAssignerOptions? Assigner = null,
    DeltaXYWHBoxCoderOptions? BoxCoder = null,
    InferenceOptions? Inference = null);

/// <summary>
/// RetinaNet (Lin et al., ICCV 2017) as torchvision 0.14 builds it: P6 and P7 from P5 (ReLU before P7),
/// nine rounded anchors per location, max-IoU matching, the classification loss it is given (focal
/// loss by default) and L1 on the encoded deltas of positives, both summed per image, divided by that
/// image's positives and averaged over images; at inference sigmoid scores, NMS at IoU 0.5.
/// </summary>
public sealed class RetinaNetDetector : DenseDetector
{
    public RetinaNetDetectorOptions Options { get; }
    public AnchorGenerator AnchorGenerator { get; }
    public MaxIoUAssigner Assigner { get; }
    public DeltaXYWHBoxCoder BoxCoder { get; }

    /// <param name="options">Architecture and training options.</param>
    /// <param name="classificationLoss">The classification loss; null means focal loss (γ 2, α 0.25).</param>
    /// <param name="backbone">A ready backbone (for example with pretrained weights); null builds one from the options.</param>
    public RetinaNetDetector(RetinaNetDetectorOptions options, IClassificationLoss? classificationLoss = null, ResNet? backbone = null)
        : base("retinanet", Compose(options, classificationLoss, backbone))
    {
        Options = options;
        AnchorGenerator = new AnchorGenerator(options.Anchors ?? AnchorGeneratorOptions.TorchvisionRetinaNet());
        if (AnchorGenerator.NumAnchorsPerLocation != PriorsPerLocation || AnchorGenerator.NumLevels != 5)
            throw new ArgumentException($"RetinaNet has 5 levels of {PriorsPerLocation} anchors; the anchor options give {AnchorGenerator.NumLevels} levels of {AnchorGenerator.NumAnchorsPerLocation}.", nameof(options));
        Assigner = new MaxIoUAssigner(options.Assigner);
        BoxCoder = new DeltaXYWHBoxCoder(options.BoxCoder ?? DeltaXYWHBoxCoderOptions.Torchvision());
    }

    /// <summary>RetinaNet from the registry's common options (unset values: torchvision's defaults; the head keeps the FPN's channels and has no GroupNorm).</summary>
    public RetinaNetDetector(DetectorBuildOptions o) : this(new RetinaNetDetectorOptions(o.NumClasses, o.Backbone.Options,
        FpnChannels(o), o.HeadConvs ?? 4, o.HeadGroups, Anchors: o.ScaledAnchors(AnchorGeneratorOptions.TorchvisionRetinaNet()), Inference: (o.Inference ?? new()).Apply(new InferenceOptions(NmsIoU: 0.5))), o.ClassificationLoss, o.Backbone)
    {
    }

    static int FpnChannels(DetectorBuildOptions o)
    {
        int channels = o.FpnChannels ?? o.HeadChannels ?? 256;
        if (o.HeadChannels is { } head && head != channels)
            throw new HpfDetException($"RetinaNet's head keeps the FPN's channels: model.head_channels ({head}) must equal model.fpn_channels ({channels}) or be left unset.");
        return channels;
    }

    static DenseDetectorParts Compose(RetinaNetDetectorOptions options, IClassificationLoss? loss, ResNet? backbone)
    {
        var resnet = backbone ?? new ResNet(options.Backbone);
        // torchvision's LastLevelP6P7 on P5: P6 = conv(P5), P7 = conv(ReLU(P6)).
        var neck = new Fpn(new FpnOptions(resnet.OutChannels, options.FpnChannels, NumOutputs: 5, ExtraConvsOnOutput: true, ReluBeforeExtraConvs: true));
        int anchors = new AnchorGenerator(options.Anchors ?? AnchorGeneratorOptions.TorchvisionRetinaNet()).NumAnchorsPerLocation;
        var head = new RetinaNetHead(new RetinaNetHeadOptions(options.NumClasses, options.FpnChannels, options.HeadConvs, anchors, NormGroups: options.HeadGroups));
        return new DenseDetectorParts(options.NumClasses, resnet, neck, head, anchors, loss ?? new SigmoidFocalLoss(), options.Inference ?? new InferenceOptions(NmsIoU: 0.5));
    }

    public override string Family => "retinanet";

    /// <summary>torchvision RetinaNet: Σ per image / max(1, positives of that image), averaged over images.</summary>
    protected override ClassificationNormalization Normalization => ClassificationNormalization.PerImage;

    protected override IReadOnlyList<Tensor> GeneratePriors(IReadOnlyList<(int H, int W)> featureSizes, Device device) =>
        AnchorGenerator.GridAnchors(featureSizes, device);

    /// <summary>Max-IoU matching over all anchors (torchvision keeps anchors on padding); between the thresholds: ignored.</summary>
    protected override PriorAssignment Assign(PriorSet priors, DetectionTarget target, Tensor? valid)
    {
        var matches = Assigner.Assign(priors.All, target.Boxes);
        return PriorAssignment.FromMatches(matches, target, priors.All, NumClasses);
    }

    /// <summary>L1 on the encoded deltas of positives, per image / max(1, its positives), averaged over images.</summary>
    protected override IEnumerable<LossTerm> RegressionLosses(TrainingBatch batch)
    {
        Tensor targets;
        using (torch.no_grad()) targets = BoxCoder.Encode(batch.PriorsPerImage().to(batch.MatchedBoxes.dtype), batch.MatchedBoxes);
        var l1 = batch.BoxRegression().sub(targets).abs().sum(2).mul(batch.PositiveF);
        return [new LossTerm("box", batch.PerImageMean(l1))];
    }

    public override Tensor DecodeBoxes(Tensor priors, Tensor regression) => BoxCoder.Decode(priors.to(regression.dtype), regression);
}
