using HpfDet.Boxes;
using HpfDet.Losses;
using HpfDet.Models.Backbones;
using HpfDet.Models.Necks;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Models;

/// <summary>Post-processing of <see cref="DenseDetector.Predict(Tensor, IReadOnlyList{ValueTuple{int, int}})"/> (torchvision's and mmdetection's defaults but for the NMS IoU, which each detector sets).</summary>
/// <param name="ScoreThreshold">Candidates need a candidate score (<see cref="DenseDetector.CandidateScores"/>) above this.</param>
/// <param name="PreNmsTopK">Candidates kept per level, by candidate score.</param>
/// <param name="NmsIoU">Class-aware NMS IoU threshold.</param>
/// <param name="MaxDetections">Detections kept per image.</param>
public sealed record InferenceOptions(double ScoreThreshold = 0.05, int PreNmsTopK = 1000, double NmsIoU = 0.6, int MaxDetections = 100);

/// <summary>Number format of the network's weights and activations, at inference (<see cref="DenseDetector.PrepareForInference"/>)
/// and in training (train.precision, <see cref="DenseDetector.UseBFloat16Compute"/>).</summary>
public enum ComputePrecision
{
    /// <summary>float32 throughout (the default).</summary>
    Float32,
    /// <summary>bfloat16 weights and activations (CPUs with AVX512-BF16 or AMX run these convolutions natively); decoding and NMS stay float32.</summary>
    BFloat16,
}

/// <summary>The names of <see cref="ComputePrecision"/> used by the CLI (--precision), train.precision and their help.</summary>
public static class ComputePrecisionNames
{
    public static readonly IReadOnlyList<string> All = ["fp32", "bf16"];

    public static ComputePrecision Parse(string name) => name switch
    {
        "fp32" => ComputePrecision.Float32,
        "bf16" => ComputePrecision.BFloat16,
        _ => throw new HpfDetException($"Unknown precision '{name}': use one of {string.Join(", ", All)}."),
    };

    public static string Name(ComputePrecision precision) => precision switch
    {
        ComputePrecision.Float32 => "fp32",
        ComputePrecision.BFloat16 => "bf16",
        _ => throw new ArgumentOutOfRangeException(nameof(precision), precision, null),
    };
}

/// <summary>How the classification loss is normalised.</summary>
public enum ClassificationNormalization
{
    /// <summary>Σ over the batch / max(1, positives of the batch) (mmdetection, torchvision FCOS).</summary>
    Batch,
    /// <summary>Per image Σ / max(1, positives of that image), then the mean over images (torchvision RetinaNet).</summary>
    PerImage,
}

/// <summary>The priors of every level for one batch shape.</summary>
/// <param name="PerLevel">Per level [H_l·W_l·A, 4] boxes (anchors; for point-based detectors, boxes centred on the points).</param>
/// <param name="All">[N, 4], the levels concatenated.</param>
/// <param name="CountsPerLevel">N_l = H_l·W_l·A per level.</param>
/// <param name="FeatureSizes">(H_l, W_l) per level.</param>
public sealed record PriorSet(IReadOnlyList<Tensor> PerLevel, Tensor All, long[] CountsPerLevel, IReadOnlyList<(int H, int W)> FeatureSizes)
{
    /// <summary>Index of the first prior of level l in <see cref="All"/>.</summary>
    public long Offset(int level) => CountsPerLevel.Take(level).Sum();
}

/// <summary>What a detector's assigner decides for one image, over the N priors of all levels (level order).</summary>
/// <param name="Labels">[N] int64: the class of positives, C for background, -1 for ignored priors.</param>
/// <param name="MatchedBoxes">[N, 4]: the matched ground-truth box of positives; finite filler elsewhere.</param>
public sealed record PriorAssignment(Tensor Labels, Tensor MatchedBoxes)
{
    /// <summary>Index of a background prior in <see cref="FromMatches"/>.</summary>
    public const long Background = -1;
    /// <summary>Index of an ignored prior in <see cref="FromMatches"/>.</summary>
    public const long Ignored = -2;

    /// <summary>
    /// Labels and matched boxes from a ground-truth index per prior: i ≥ 0 takes gt i's class and box,
    /// <see cref="Background"/> gives class C, <see cref="Ignored"/> label -1; non-positives keep their own
    /// prior as a finite box target (no loss reads it).
    /// </summary>
    /// <param name="matches">[N] int64.</param>
    /// <param name="target">The image's ground truth.</param>
    /// <param name="priors">[N, 4] priors.</param>
    /// <param name="numClasses">C.</param>
    public static PriorAssignment FromMatches(Tensor matches, DetectionTarget target, Tensor priors, int numClasses)
    {
        using var background = numClasses.ToScalar();
        using var ignored = Ignored.ToScalar();
        var positive = matches.ge(ScalarConstants.Zero);
        var fillerBoxes = priors.to(target.Boxes.dtype);
        if (target.Boxes.shape[0] == 0)
            return new PriorAssignment(torch.full_like(matches, background).masked_fill_(matches.eq(ignored), ScalarConstants.MinusOne), fillerBoxes);
        var gtIndex = matches.clamp_min(ScalarConstants.Zero);
        var labels = torch.where(positive, target.Labels.index_select(0, gtIndex), torch.full_like(matches, background))
            .masked_fill_(matches.eq(ignored), ScalarConstants.MinusOne);
        var boxes = torch.where(positive.unsqueeze(1), target.Boxes.index_select(0, gtIndex), fillerBoxes);
        return new PriorAssignment(labels, boxes);
    }
}

/// <summary>Everything a detector's own loss terms need for one batch; flattened tensors are in prior order.</summary>
/// <param name="Outputs">The head's raw per-level outputs.</param>
/// <param name="Priors">The priors.</param>
/// <param name="Labels">[B, N] int64 (C background, -1 ignore).</param>
/// <param name="MatchedBoxes">[B, N, 4].</param>
/// <param name="Positive">[B, N] bool.</param>
/// <param name="PositiveF">[B, N] in the outputs' dtype (1 for positives).</param>
/// <param name="PositivesPerImage">[B] positives of each image, outputs' dtype.</param>
/// <param name="NumPositives">0-dim positives of the batch.</param>
/// <param name="Normalizer">0-dim max(1, positives of the batch).</param>
/// <param name="ImageSizes">(H, W) of each image's content inside the padded batch.</param>
/// <param name="BoxValuesPerPrior">Box-regression values per prior.</param>
public sealed record TrainingBatch(
    DenseHeadOutputs Outputs, PriorSet Priors, Tensor Labels, Tensor MatchedBoxes, Tensor Positive, Tensor PositiveF,
    Tensor PositivesPerImage, Tensor NumPositives, Tensor Normalizer, IReadOnlyList<(int H, int W)> ImageSizes, int BoxValuesPerPrior = 4)
{
    public long BatchSize => Labels.shape[0];
    public long NumPriors => Labels.shape[1];

    /// <summary>The box regression as [B, N, K], K = <see cref="BoxValuesPerPrior"/> (4 for most heads).</summary>
    public Tensor BoxRegression() => DenseHeadOutputs.Flatten(Outputs.BoxRegression, BoxValuesPerPrior);

    /// <summary>An extra head output as [B, N, K].</summary>
    public Tensor Extra(string name, int valuesPerPrior) => DenseHeadOutputs.Flatten(Outputs[name], valuesPerPrior);

    /// <summary>The priors repeated per image, [B, N, 4].</summary>
    public Tensor PriorsPerImage() => Priors.All.unsqueeze(0).expand(BatchSize, NumPriors, 4);

    /// <summary>
    /// Per image Σ of <paramref name="perPrior"/> [B, N] (already zero off the terms' priors) divided by
    /// max(1, that image's positives), averaged over images: torchvision RetinaNet's normalisation.
    /// </summary>
    public Tensor PerImageMean(Tensor perPrior) =>
        perPrior.sum(1).div(PositivesPerImage.clamp_min(ScalarConstants.OneDouble)).mean();
}

/// <summary>One level of one image at inference, flattened: M = H·W·A rows in (y, x, anchor) order.</summary>
/// <param name="Level">Pyramid level index (0 = P3).</param>
/// <param name="ClassLogits">[M, C].</param>
/// <param name="BoxRegression">[M, 4].</param>
/// <param name="Extra">The head's extra outputs by name, [M, K].</param>
/// <param name="Priors">[M, 4].</param>
public sealed record LevelPrediction(int Level, Tensor ClassLogits, Tensor BoxRegression, IReadOnlyDictionary<string, Tensor> Extra, Tensor Priors);

/// <summary>The parts every dense detector is composed of.</summary>
/// <param name="NumClasses">Object classes C.</param>
/// <param name="Backbone">The backbone (C3–C5).</param>
/// <param name="Neck">The neck: backbone maps (C3–C5) → the head's levels (an FPN's P3–P7; YOLOF's one level).</param>
/// <param name="Head">The head: FPN levels → <see cref="DenseHeadOutputs"/>.</param>
/// <param name="PriorsPerLocation">Priors (anchors) per feature location A.</param>
/// <param name="ClassificationLoss">The classification loss (focal loss, HPF, QFL, VFL); it sees the levels.</param>
/// <param name="Inference">Post-processing.</param>
/// <param name="BoxValuesPerPrior">Box-regression values per prior (4; GFL's distributions: 4·(reg_max+1)).</param>
public sealed record DenseDetectorParts(
    int NumClasses, ResNet Backbone, nn.Module<Tensor[], Tensor[]> Neck, nn.Module<Tensor[], DenseHeadOutputs> Head, int PriorsPerLocation,
    IClassificationLoss ClassificationLoss, InferenceOptions Inference, int BoxValuesPerPrior = 4);

/// <summary>
/// The one seam of dense (one-stage) detectors: backbone → FPN → head, priors per level, per-image
/// assignment, the per-level classification inputs (the single place where the classification loss,
/// and so HPF, sees the pyramid levels), the normaliser, and at inference multi-level decoding, score
/// threshold, top-k per level, class-aware batched NMS and detections per image. A detector subclass
/// holds only what is its own: its priors, its assignment rule, its box coder and regression terms,
/// and how it scores candidates.
/// </summary>
public abstract class DenseDetector : nn.Module<Tensor, DenseHeadOutputs>
{
    readonly ResNet backbone;
    readonly nn.Module<Tensor[], Tensor[]> neck;
    readonly nn.Module<Tensor[], DenseHeadOutputs> head;

    /// <param name="name">Module name (the detector family, e.g. "atss").</param>
    /// <param name="parts">The composed parts.</param>
    protected DenseDetector(string name, DenseDetectorParts parts) : base(name)
    {
        TorchRuntime.EnsureCorrectConvolutions();
        if (parts.NumClasses < 1) throw new ArgumentOutOfRangeException(nameof(parts), $"NumClasses must be >= 1, got {parts.NumClasses}.");
        NumClasses = parts.NumClasses;
        PriorsPerLocation = parts.PriorsPerLocation;
        ClassificationLoss = parts.ClassificationLoss;
        Inference = parts.Inference;
        BoxValuesPerPrior = parts.BoxValuesPerPrior;
        backbone = parts.Backbone;
        neck = parts.Neck;
        head = parts.Head;
        RegisterComponents();
    }

    /// <summary>The detector family's registry name ("atss", "retinanet", "fcos", ...).</summary>
    public abstract string Family { get; }
    public int NumClasses { get; }
    public int PriorsPerLocation { get; }
    public IClassificationLoss ClassificationLoss { get; }
    public InferenceOptions Inference { get; }
    public ResNet Backbone => backbone;
    public nn.Module<Tensor[], Tensor[]> Neck => neck;
    /// <summary>Box-regression values per prior (4 unless the head predicts distributions).</summary>
    public int BoxValuesPerPrior { get; }
    public nn.Module<Tensor[], DenseHeadOutputs> Head => head;

    // ----- what each detector defines -----

    /// <summary>The priors of every level: per level [H·W·A, 4] float32 boxes in (y, x, anchor) order.</summary>
    protected abstract IReadOnlyList<Tensor> GeneratePriors(IReadOnlyList<(int H, int W)> featureSizes, Device device);

    /// <summary>
    /// Per level [H·W·A] bool: priors on locations that cover the image's content, for detectors that
    /// exclude priors on batch padding from assignment (mmdetection's valid flags); null means all are valid.
    /// </summary>
    protected virtual IReadOnlyList<Tensor>? ValidPriors(IReadOnlyList<(int H, int W)> featureSizes, (int H, int W) imageSize, Device device) => null;

    /// <summary>Assigns one image's ground truth to the priors (runs without gradient).</summary>
    /// <param name="priors">The priors.</param>
    /// <param name="target">The image's ground truth, on the priors' device.</param>
    /// <param name="valid">[N] bool from <see cref="ValidPriors"/>, or null.</param>
    protected abstract PriorAssignment Assign(PriorSet priors, DetectionTarget target, Tensor? valid);

    /// <summary>
    /// Assignment that may read the head's current (detached) predictions for the image, for detectors
    /// whose rule depends on them (PAA's loss-based scores, FSAF's online level selection). The default
    /// ignores them and calls <see cref="Assign(PriorSet, DetectionTarget, Tensor?)"/>.
    /// </summary>
    /// <param name="priors">The priors.</param>
    /// <param name="target">The image's ground truth, on the priors' device.</param>
    /// <param name="valid">[N] bool from <see cref="ValidPriors"/>, or null.</param>
    /// <param name="outputs">The batch's head outputs (read them detached: assignment runs without gradient).</param>
    /// <param name="image">The image's index in the batch.</param>
    protected virtual PriorAssignment Assign(PriorSet priors, DetectionTarget target, Tensor? valid, DenseHeadOutputs outputs, int image) =>
        Assign(priors, target, valid);

    /// <summary>How the classification loss is normalised (Batch unless the detector's reference differs).</summary>
    protected virtual ClassificationNormalization Normalization => ClassificationNormalization.Batch;

    /// <summary>
    /// The normaliser of the classification loss under <see cref="ClassificationNormalization.Batch"/>
    /// (default max(1, positives of the batch); FoveaBox: positives + images).
    /// </summary>
    protected virtual Tensor ClassificationNormalizer(TrainingBatch batch) => batch.Normalizer;

    /// <summary>
    /// [B, N] IoU-quality targets for QFL/VFL: the IoU of each positive's decoded box with its ground truth
    /// (0 elsewhere); computed only when the loss needs them.
    /// </summary>
    protected virtual Tensor QualityTargets(TrainingBatch batch)
    {
        using var _ = torch.no_grad();
        var decoded = DecodeBoxes(batch.PriorsPerImage().reshape(-1, 4), batch.BoxRegression().reshape(-1, 4));
        return BoxOps.AlignedIoU(decoded, batch.MatchedBoxes.reshape(-1, 4)).reshape(batch.BatchSize, -1).mul_(batch.PositiveF);
    }

    /// <summary>The detector's own loss terms after the classification term (box, centerness, ...).</summary>
    protected abstract IEnumerable<LossTerm> RegressionLosses(TrainingBatch batch);

    /// <summary>Boxes from priors [K, 4] and box regression [K, 4] (the detector's box coder) → [K, 4].</summary>
    public abstract Tensor DecodeBoxes(Tensor priors, Tensor regression);

    /// <summary>[M, C] scores that the threshold and top-k select candidates by (default: sigmoid of the logits).</summary>
    protected internal virtual Tensor CandidateScores(LevelPrediction level) => level.ClassLogits.sigmoid();

    /// <summary>[M] factor the selected candidates' scores are multiplied by before NMS (ATSS: centerness), or null.</summary>
    protected internal virtual Tensor? ScoreFactor(LevelPrediction level) => null;

    /// <summary>
    /// One image's detections after NMS and the detection limit, refined with the candidates NMS chose
    /// from (PAA's score voting); the default returns them unchanged.
    /// </summary>
    /// <param name="kept">The detections after NMS, scores descending.</param>
    /// <param name="candidates">The image's candidates of every level as NMS saw them (boxes clipped, scores times the score factor).</param>
    protected internal virtual Detections RefineDetections(Detections kept, Detections candidates) => kept;

    // ----- what every detector shares -----

    /// <summary>Raw head outputs for a normalised image batch [B, 3, H, W] (float32, whatever the compute precision).</summary>
    public override DenseHeadOutputs forward(Tensor images)
    {
        if (computeDtype is null && !computeChannelsLast) return head.call(neck.call(backbone.call(images)));
        using var scope = torch.NewDisposeScope();
        var input = computeDtype is { } dtype ? images.to(dtype) : images.alias();
        if (computeChannelsLast) input = ChannelsLast.Of(input);
        var raw = head.call(neck.call(backbone.call(input)));
        static Tensor[] Float(Tensor[] levels) => levels.Select(t => t.to(ScalarType.Float32).MoveToOuterDisposeScope()).ToArray();
        return new DenseHeadOutputs(Float(raw.ClassLogits), Float(raw.BoxRegression), raw.Extra.ToDictionary(kv => kv.Key, kv => Float(kv.Value)));
    }

    // The number format and layout the convolutions run in (set by PrepareForInference or UseBFloat16Compute);
    // images come in and head outputs go out as float32 either way.
    ScalarType? computeDtype;
    bool computeChannelsLast;

    /// <summary>Whether <see cref="UseBFloat16Compute"/> made this detector a bfloat16 working copy.</summary>
    public bool ComputesInBFloat16 => computeDtype == ScalarType.BFloat16;

    /// <summary>
    /// Turns this detector into a bfloat16, channels-last working copy for mixed-precision training: every
    /// weight and buffer becomes bfloat16 (the caller keeps the float32 master state, see
    /// <c>Training.BFloat16Training</c>), images are converted in <see cref="forward"/> and head outputs
    /// come back float32, so assignment and losses stay float32. Parameters are replaced: take
    /// <c>named_parameters()</c> again afterwards. Refused for ResNet-50/101 (libtorch 2.10 crashes in their
    /// channels-last stages) and with training BatchNorm (its statistics would drift in bfloat16).
    /// </summary>
    /// <param name="channelsLast">Channels-last layout (true, the default) or contiguous; for diagnosis.</param>
    public void UseBFloat16Compute(bool channelsLast = true)
    {
        if (PreparedPrecision is not null || computeDtype is not null)
            throw new InvalidOperationException("The detector already has a compute precision.");
        RefuseChannelsLastBackbone("bf16 training (train.precision: bf16)", "train.precision: fp32");
        if (!Backbone.Options.NormEval)
            throw new HpfDetException("bf16 training (train.precision: bf16) needs frozen BatchNorm statistics (model.norm_eval: true): " +
                "their float32 values are kept only while they do not change. Set model.norm_eval: true or train.precision: fp32.");
        this.to(ScalarType.BFloat16);
        if (channelsLast) ChannelsLast.Convert(this);
        computeDtype = ScalarType.BFloat16;
        computeChannelsLast = channelsLast;
    }

    void RefuseChannelsLastBackbone(string what, string alternative)
    {
        if (Backbone.Options.Depth is ResNetDepth.R50 or ResNetDepth.R101)
            throw new HpfDetException($"{what} is not available for ResNet-{(Backbone.Options.Depth == ResNetDepth.R50 ? 50 : 101)} " +
                $"backbones: libtorch 2.10 crashes in their channels-last stages. Use {alternative}, or an r18/r34 model.");
    }

    /// <summary>The precision <see cref="PrepareForInference"/> set; null while the detector can still train.</summary>
    public ComputePrecision? PreparedPrecision { get; private set; }

    /// <summary>
    /// Makes this detector inference-only and faster on CPU: evaluation mode, no gradients, the backbone's
    /// BatchNorms folded into their convolutions, and for
    /// <see cref="ComputePrecision.BFloat16"/> every weight and activation in bfloat16 (images are converted in
    /// <see cref="forward"/>). Head outputs stay float32, so decoding, thresholds and NMS are unchanged. Training
    /// it afterwards is refused: reload the checkpoint.
    /// </summary>
    /// <param name="precision">Float32 or BFloat16 weights and activations.</param>
    /// <param name="channelsLast">Channels-last layout; null: with bfloat16 only. bfloat16 needs it: in the
    /// contiguous layout libtorch 2.10's bfloat16 kernels lose accuracy (bccd FCOS-R18 AP 0.585 → 0.464, against
    /// 0.584 channels-last). Refused for ResNet-50/101 backbones: libtorch 2.10 crashes (two threads) in their
    /// channels-last stages. See docs/benchmarks.md.</param>
    /// <param name="foldBatchNorms">Fold every backbone BatchNorm into the convolution before it (one convolution with
    /// a bias instead of a convolution and a normalisation pass; the statistics are frozen in evaluation mode).</param>
    public void PrepareForInference(ComputePrecision precision = ComputePrecision.Float32, bool? channelsLast = null, bool foldBatchNorms = true)
    {
        if (PreparedPrecision is not null)
            throw new InvalidOperationException($"The detector is already prepared for inference ({PreparedPrecision}).");
        if (computeDtype is not null)
            throw new InvalidOperationException("The detector is a bfloat16 training copy; prepare a detector loaded from its checkpoint instead.");
        bool layout = channelsLast ?? precision == ComputePrecision.BFloat16;
        if (layout) RefuseChannelsLastBackbone("bf16 (channels-last) inference", "--precision fp32");
        eval();
        foreach (var p in parameters()) p.requires_grad = false;
        // Folded from the float32 weights, before they are converted.
        if (foldBatchNorms) backbone.FoldNorms(precision == ComputePrecision.BFloat16 ? ScalarType.BFloat16 : ScalarType.Float32, layout);
        if (precision == ComputePrecision.BFloat16) this.to(ScalarType.BFloat16);
        if (layout) ChannelsLast.Convert(this);
        computeChannelsLast = layout;
        computeDtype = precision == ComputePrecision.BFloat16 ? ScalarType.BFloat16 : null;
        PreparedPrecision = precision;
    }

    /// <summary>The priors for the feature sizes of a batch.</summary>
    public PriorSet Priors(IReadOnlyList<(int H, int W)> featureSizes, Device device)
    {
        var perLevel = GeneratePriors(featureSizes, device);
        return new PriorSet(perLevel, perLevel.Count == 1 ? perLevel[0] : torch.cat(perLevel.ToArray(), 0), perLevel.Select(p => p.shape[0]).ToArray(), featureSizes);
    }

    static (int H, int W)[] FeatureSizes(DenseHeadOutputs outputs) =>
        outputs.ClassLogits.Select(t => ((int)t.shape[2], (int)t.shape[3])).ToArray();

    /// <summary>
    /// The training losses of a batch: the classification term (through <see cref="ClassificationLoss"/>,
    /// level by level) and the detector's own terms. Assignment runs without gradient; nothing here reads
    /// a value back to the host.
    /// </summary>
    /// <param name="images">[B, 3, H, W] normalised images.</param>
    /// <param name="targets">B ground truths in the input frame.</param>
    /// <param name="imageSizes">(H, W) of each image's content inside the padded batch; null means the batch size.</param>
    public DetectionLosses ComputeLosses(Tensor images, IReadOnlyList<DetectionTarget> targets, IReadOnlyList<(int H, int W)>? imageSizes = null)
    {
        if (PreparedPrecision is not null)
            throw new InvalidOperationException("This detector was prepared for inference (PrepareForInference) and cannot train; load the checkpoint again to train.");
        long batchSize = images.shape[0];
        if (targets.Count != batchSize)
            throw new ArgumentException($"ComputeLosses: {targets.Count} targets for a batch of {batchSize} images.", nameof(targets));
        if (imageSizes is not null && imageSizes.Count != batchSize)
            throw new ArgumentException($"ComputeLosses: {imageSizes.Count} image sizes for a batch of {batchSize} images.", nameof(imageSizes));
        var sizes = imageSizes ?? Enumerable.Repeat(((int)images.shape[2], (int)images.shape[3]), (int)batchSize).ToArray();
        return ComputeLosses(forward(images), targets, sizes);
    }

    /// <summary>The training losses from head outputs already computed (see the other overload).</summary>
    public DetectionLosses ComputeLosses(DenseHeadOutputs outputs, IReadOnlyList<DetectionTarget> targets, IReadOnlyList<(int H, int W)> imageSizes)
    {
        int c = NumClasses;
        var device = outputs.ClassLogits[0].device;
        var dtype = outputs.ClassLogits[0].dtype;
        var featureSizes = FeatureSizes(outputs);
        var priors = Priors(featureSizes, device);
        int batchSize = targets.Count;

        Tensor labels, matched;                                                         // [B, N], [B, N, 4]
        using (torch.no_grad())
        {
            var labelList = new Tensor[batchSize];
            var matchedList = new Tensor[batchSize];
            for (int b = 0; b < batchSize; b++)
            {
                var t = targets[b];
                var onDevice = new DetectionTarget(t.Boxes.to(device), t.Labels.to(device), t.IsCrowd?.to(device));
                var validLevels = ValidPriors(featureSizes, imageSizes[b], device);
                var valid = validLevels is null ? null : torch.cat(validLevels.ToArray(), 0);
                var assignment = Assign(priors, onDevice, valid, outputs, b);
                labelList[b] = assignment.Labels;
                matchedList[b] = assignment.MatchedBoxes.to(dtype);
            }
            labels = torch.stack(labelList);
            matched = torch.stack(matchedList);
        }
        using var numClasses = c.ToScalar();
        var positive = labels.ge(ScalarConstants.Zero).logical_and(labels.lt(numClasses));
        var positiveF = positive.to(dtype);
        var perImage = positiveF.sum(1);
        var numPositives = perImage.sum();
        var batch = new TrainingBatch(outputs, priors, labels, matched, positive, positiveF, perImage, numPositives,
            numPositives.clamp_min(ScalarConstants.OneDouble), imageSizes, BoxValuesPerPrior);

        var terms = new List<LossTerm> { new(DetectionLosses.ClassificationTerm, ClassificationTerm(batch)) };
        terms.AddRange(RegressionLosses(batch));
        return new DetectionLosses(terms, numPositives);
    }

    /// <summary>
    /// The classification loss: per level, the rows of every image of that level ([B·H·W·A, C] logits,
    /// labels, soft targets), normalised as <see cref="Normalization"/> says.
    /// </summary>
    Tensor ClassificationTerm(TrainingBatch batch)
    {
        int c = NumClasses;
        long batchSize = batch.BatchSize;
        var soft = ClassificationLoss is QualityFocalLoss or VarifocalLoss ? QualityTargets(batch) : null;
        Tensor? scale = null;
        Tensor? normalizer = ClassificationNormalizer(batch);
        if (Normalization == ClassificationNormalization.PerImage)
        {
            // Σ_b (1/B) Σ_rows∈b ℓ / max(1, n_b): a per-row factor, with a normaliser of 1.
            using var images = batchSize.ToScalar();
            scale = batch.PositivesPerImage.clamp_min(ScalarConstants.OneDouble).mul(images).reciprocal().unsqueeze(1).expand(batchSize, batch.NumPriors);
            normalizer = torch.ones_like(batch.Normalizer);
        }
        var levels = new List<ClassificationLevelInput>(batch.Outputs.NumLevels);
        long offset = 0;
        for (int l = 0; l < batch.Outputs.NumLevels; l++)
        {
            long n = batch.Priors.CountsPerLevel[l];
            levels.Add(new ClassificationLevelInput(
                batch.Outputs.ClassLogits[l].permute(0, 2, 3, 1).reshape(-1, c),
                batch.Labels.narrow(1, offset, n).reshape(-1),
                null,
                soft?.narrow(1, offset, n).reshape(-1),
                scale?.narrow(1, offset, n).reshape(-1)));
            offset += n;
        }
        return ClassificationLoss.Forward(levels, normalizer);
    }

    /// <summary>
    /// Detections per image in the input frame: per level the top-k candidate scores above the
    /// threshold, their boxes decoded and clipped to the image, scores times the detector's score
    /// factor, then class-aware NMS over all levels and the best detections.
    /// </summary>
    /// <param name="images">[B, 3, H, W] normalised images.</param>
    /// <param name="imageSizes">Per image the (H, W) of its content inside the padded batch, for clipping; null means the batch size.</param>
    public IReadOnlyList<Detections> Predict(Tensor images, IReadOnlyList<(int H, int W)>? imageSizes = null)
    {
        using var _ = torch.no_grad();
        var outputs = forward(images);
        var sizes = imageSizes ?? Enumerable.Repeat(((int)images.shape[2], (int)images.shape[3]), (int)images.shape[0]).ToArray();
        return Predict(outputs, sizes);
    }

    /// <summary>Detections from head outputs already computed (see the other overload).</summary>
    public IReadOnlyList<Detections> Predict(DenseHeadOutputs outputs, IReadOnlyList<(int H, int W)> imageSizes)
    {
        using var _ = torch.no_grad();
        var opt = Inference;
        int c = NumClasses;
        long batchSize = outputs.ClassLogits[0].shape[0];
        var device = outputs.ClassLogits[0].device;
        var priors = Priors(FeatureSizes(outputs), device);
        var results = new List<Detections>((int)batchSize);
        using var threshold = opt.ScoreThreshold.ToScalar();
        using var numClasses = c.ToScalar();
        for (int b = 0; b < batchSize; b++)
        {
            using var scope = torch.NewDisposeScope();
            var (h, w) = imageSizes[b];
            var boxList = new List<Tensor>();
            var scoreList = new List<Tensor>();
            var labelList = new List<Tensor>();
            for (int l = 0; l < outputs.NumLevels; l++)
            {
                var level = LevelOf(outputs, priors, l, b);
                var scores = CandidateScores(level).reshape(-1);                             // [M·C]
                var candidates = scores.gt(threshold).nonzero().squeeze(1);
                if (candidates.shape[0] == 0) continue;
                var candidateScores = scores.index_select(0, candidates);
                var top = candidateScores.topk((int)Math.Min(opt.PreNmsTopK, candidates.shape[0]));
                candidateScores = top.values;
                candidates = candidates.index_select(0, top.indexes);
                var priorIndex = candidates.div(numClasses, rounding_mode: RoundingMode.floor);
                var classIndex = candidates.remainder(numClasses);
                var boxes = DecodeBoxes(level.Priors.index_select(0, priorIndex), level.BoxRegression.index_select(0, priorIndex));
                boxList.Add(BoxOps.ClipToImage(boxes, h, w));
                var factor = ScoreFactor(level);
                scoreList.Add(factor is null ? candidateScores : candidateScores.mul(factor.index_select(0, priorIndex)));
                labelList.Add(classIndex);
            }
            if (boxList.Count == 0)
            {
                var dtype = outputs.BoxRegression[0].dtype;
                results.Add(new Detections(torch.zeros(0, 4, dtype: dtype, device: device).MoveToOuterDisposeScope(),
                    torch.zeros(0, dtype: dtype, device: device).MoveToOuterDisposeScope(),
                    torch.zeros(0, dtype: ScalarType.Int64, device: device).MoveToOuterDisposeScope()));
                continue;
            }
            var allBoxes = torch.cat(boxList.ToArray(), 0);
            var allScores = torch.cat(scoreList.ToArray(), 0);
            var allLabels = torch.cat(labelList.ToArray(), 0);
            var keep = BoxOps.BatchedNms(allBoxes, allScores, allLabels, opt.NmsIoU);
            if (keep.shape[0] > opt.MaxDetections) keep = keep.narrow(0, 0, opt.MaxDetections);
            var kept = RefineDetections(
                new Detections(allBoxes.index_select(0, keep), allScores.index_select(0, keep), allLabels.index_select(0, keep)),
                new Detections(allBoxes, allScores, allLabels));
            // A refinement averages clipped boxes; float rounding can put the average a hair outside the image
            // (96.0000153 in a 96-px image was seen), so clip again.
            var keptBoxes = BoxOps.ClipToImage(kept.Boxes, h, w);
            results.Add(new Detections(keptBoxes.MoveToOuterDisposeScope(), kept.Scores.MoveToOuterDisposeScope(), kept.Labels.MoveToOuterDisposeScope()));
        }
        return results;
    }

    LevelPrediction LevelOf(DenseHeadOutputs outputs, PriorSet priors, int level, int image)
    {
        static Tensor Rows(Tensor t, int image, long k) => t[image].permute(1, 2, 0).reshape(-1, k);
        var cls = Rows(outputs.ClassLogits[level], image, NumClasses);
        var box = Rows(outputs.BoxRegression[level], image, BoxValuesPerPrior);
        var extra = outputs.Extra.ToDictionary(e => e.Key, e => Rows(e.Value[level], image, e.Value[level].shape[1] / PriorsPerLocation));
        return new LevelPrediction(level, cls, box, extra, priors.PerLevel[level]);
    }

    /// <summary>
    /// Per-level weights by name for a module tree, used to load a reference implementation's state dict
    /// into the head: every parameter of <see cref="Head"/> whose name is in <paramref name="state"/> is copied.
    /// </summary>
    /// <returns>Names of the head's parameters the state did not have.</returns>
    public IReadOnlyList<string> LoadHeadState(IReadOnlyDictionary<string, Tensor> state)
    {
        var missing = new List<string>();
        using var _ = torch.no_grad();
        foreach (var (name, p) in head.named_parameters())
        {
            if (!state.TryGetValue(name, out var value)) { missing.Add(name); continue; }
            if (!p.shape.SequenceEqual(value.shape))
                throw new HpfDetException($"Head weight '{name}' has shape [{string.Join(", ", value.shape)}] in the state but [{string.Join(", ", p.shape)}] in the {Family} head.");
            p.copy_(value);
        }
        return missing;
    }
}
