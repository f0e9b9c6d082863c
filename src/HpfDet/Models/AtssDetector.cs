using HpfDet.Assigners;
using HpfDet.Boxes;
using HpfDet.Losses;
using HpfDet.Models.Backbones;
using HpfDet.Models.Heads;
using HpfDet.Models.Necks;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Models;

/// <summary>Post-processing of <see cref="AtssDetector.Predict"/>.</summary>
/// <param name="ScoreThreshold">Candidates need a class score above this (before the centerness factor).</param>
/// <param name="PreNmsTopK">Candidates kept per level, by score.</param>
/// <param name="NmsIoU">Class-aware NMS IoU threshold.</param>
/// <param name="MaxDetections">Detections kept per image.</param>
public sealed record AtssInferenceOptions(double ScoreThreshold = 0.05, int PreNmsTopK = 1000, double NmsIoU = 0.6, int MaxDetections = 100);

/// <summary>Options of <see cref="AtssDetector"/>; defaults are the ATSS paper's R50 settings but for the depth.</summary>
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
/// <param name="Inference">Post-processing.</param>
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
    AtssInferenceOptions? Inference = null);

/// <summary>
/// ATSS: ResNet → FPN (P3–P7) → <see cref="AtssHead"/>, trained with the ATSS assigner, a
/// per-level classification loss (<see cref="IClassificationLoss"/>: focal loss by default, or HPF,
/// QFL, VFL), GIoU box loss weighted by centerness targets, and centerness BCE.
/// </summary>
public sealed class AtssDetector : nn.Module<Tensor, DenseHeadOutputs>
{
    readonly ResNet backbone;
    readonly Fpn neck;
    readonly AtssHead bbox_head;

    public AtssDetectorOptions Options { get; }
    public AnchorGenerator AnchorGenerator { get; }
    public AtssAssigner Assigner { get; }
    public DeltaXYWHBoxCoder BoxCoder { get; }
    public IClassificationLoss ClassificationLoss { get; }
    public GIoULoss BoxLoss { get; }
    public ResNet Backbone => backbone;

    /// <param name="options">Architecture and training options.</param>
    /// <param name="classificationLoss">The classification loss; null means focal loss (γ 2, α 0.25).</param>
    /// <param name="backbone">A ready backbone (for example with pretrained weights); null builds one from the options.</param>
    public AtssDetector(AtssDetectorOptions options, IClassificationLoss? classificationLoss = null, ResNet? backbone = null) : base(nameof(AtssDetector))
    {
        TorchRuntime.EnsureCorrectConvolutions();
        Options = options;
        this.backbone = backbone ?? new ResNet(options.Backbone);
        neck = new Fpn(new FpnOptions(this.backbone.OutChannels, options.FpnChannels, NumOutputs: 5));
        bbox_head = new AtssHead(new AtssHeadOptions(options.NumClasses, options.FpnChannels, options.HeadChannels, options.HeadConvs, options.HeadGroups, NumLevels: 5));
        AnchorGenerator = new AnchorGenerator(options.Anchors);
        if (AnchorGenerator.NumAnchorsPerLocation != 1)
            throw new ArgumentException($"AtssDetector uses one anchor per location; the anchor options give {AnchorGenerator.NumAnchorsPerLocation}.", nameof(options));
        if (AnchorGenerator.NumLevels != 5)
            throw new ArgumentException($"AtssDetector has 5 pyramid levels; the anchor options give {AnchorGenerator.NumLevels} strides.", nameof(options));
        Assigner = new AtssAssigner(options.Assigner);
        BoxCoder = new DeltaXYWHBoxCoder(options.BoxCoder);
        ClassificationLoss = classificationLoss ?? new SigmoidFocalLoss();
        BoxLoss = new GIoULoss(options.BoxLossWeight);
        RegisterComponents();
    }

    /// <summary>Raw head outputs for a normalised image batch [B, 3, H, W].</summary>
    public override DenseHeadOutputs forward(Tensor images) => bbox_head.call(neck.call(backbone.call(images)));

    /// <summary>
    /// The training losses of a batch. Label assignment runs without gradient; nothing here reads a
    /// value back to the host.
    /// </summary>
    /// <param name="images">[B, 3, H, W] normalised images.</param>
    /// <param name="targets">B ground truths in the input frame.</param>
    public DetectionLosses ComputeLosses(Tensor images, IReadOnlyList<DetectionTarget> targets)
    {
        long batch = images.shape[0];
        if (targets.Count != batch)
            throw new ArgumentException($"ComputeLosses: {targets.Count} targets for a batch of {batch} images.", nameof(targets));
        var outputs = forward(images);
        int c = Options.NumClasses;
        var sizes = outputs.ClassLogits.Select(t => ((int)t.shape[2], (int)t.shape[3])).ToArray();
        var anchorsPerLevel = AnchorGenerator.GridAnchors(sizes, images.device);
        var anchors = torch.cat(anchorsPerLevel.ToArray(), 0);                           // [N, 4]
        long n = anchors.shape[0];

        Tensor labels, matched, positive;                                                // [B, N], [B, N, 4], [B, N]
        using (torch.no_grad())
        {
            var labelList = new Tensor[batch];
            var matchedList = new Tensor[batch];
            var positiveList = new Tensor[batch];
            for (int b = 0; b < batch; b++)
            {
                var t = targets[b];
                var assign = Assigner.Assign(anchorsPerLevel, t.Boxes.to(anchors.device), t.Labels.to(anchors.device), c, t.IsCrowd?.to(anchors.device));
                labelList[b] = assign.AssignedLabels;
                positiveList[b] = assign.PositiveMask();
                // Non-positive anchors get their own box as a harmless target (weight 0 below).
                matchedList[b] = torch.where(positiveList[b].unsqueeze(1), assign.MatchedGtBoxes(t.Boxes.to(anchors.device)), anchors);
            }
            labels = torch.stack(labelList);
            matched = torch.stack(matchedList);
            positive = torch.stack(positiveList);
        }

        // Flatten levels: [B, ΣHW, ·], level-major within each image, as the anchors are.
        var boxDeltas = torch.cat(outputs.BoxDeltas.Select(t => t.permute(0, 2, 3, 1).reshape(batch, -1, 4)).ToArray(), 1);   // [B, N, 4]
        var centerness = torch.cat(outputs.Centerness.Select(t => t.permute(0, 2, 3, 1).reshape(batch, -1)).ToArray(), 1);   // [B, N]
        var anchorsB = anchors.unsqueeze(0).expand(batch, n, 4).reshape(-1, 4);
        var decoded = BoxCoder.Decode(anchorsB, boxDeltas.reshape(-1, 4));                  // [B·N, 4]
        var targetBoxes = matched.reshape(-1, 4);
        var positiveF = positive.reshape(-1).to(decoded.dtype);
        var numPositives = positiveF.sum();
        var normalizer = numPositives.clamp_min(1.0);

        Tensor centernessTarget;
        Tensor softTargets;
        using (torch.no_grad())
        {
            centernessTarget = CenternessTargets(anchorsB, targetBoxes).mul_(positiveF);
            softTargets = BoxOps.AlignedIoU(decoded.detach(), targetBoxes).mul_(positiveF).reshape(batch, n);
        }

        // Classification, level by level (HPF needs the levels).
        var levels = new List<ClassificationLevelInput>(outputs.ClassLogits.Length);
        long offset = 0;
        foreach (var logits in outputs.ClassLogits)
        {
            long hw = logits.shape[2] * logits.shape[3];
            levels.Add(new ClassificationLevelInput(
                logits.permute(0, 2, 3, 1).reshape(-1, c),
                labels.narrow(1, offset, hw).reshape(-1),
                null,
                softTargets.narrow(1, offset, hw).reshape(-1)));
            offset += hw;
        }
        var clsLoss = ClassificationLoss.Forward(levels, normalizer);

        var boxNormalizer = centernessTarget.sum().clamp_min(1.0);
        var boxLoss = BoxLoss.Forward(decoded, targetBoxes, centernessTarget, boxNormalizer);
        var ctrLoss = nn.functional.binary_cross_entropy_with_logits(centerness.reshape(-1), centernessTarget, reduction: nn.Reduction.None)
            .mul(positiveF).sum().div(normalizer);
        return new DetectionLosses(clsLoss, boxLoss, ctrLoss, numPositives);
    }

    /// <summary>
    /// FCOS/ATSS centerness of each anchor centre w.r.t. its target box:
    /// sqrt(min(l, r)/max(l, r) · min(t, b)/max(t, b)).
    /// </summary>
    /// <param name="anchors">[N, 4]</param>
    /// <param name="boxes">[N, 4]</param>
    /// <returns>[N] in [0, 1].</returns>
    public static Tensor CenternessTargets(Tensor anchors, Tensor boxes)
    {
        var cx = anchors[.., 0].add(anchors[.., 2]).mul(0.5);
        var cy = anchors[.., 1].add(anchors[.., 3]).mul(0.5);
        var l = cx.sub(boxes[.., 0]).clamp_min(0);
        var t = cy.sub(boxes[.., 1]).clamp_min(0);
        var r = boxes[.., 2].sub(cx).clamp_min(0);
        var b = boxes[.., 3].sub(cy).clamp_min(0);
        var lr = torch.minimum(l, r).div(torch.maximum(l, r).clamp_min(1e-6));
        var tb = torch.minimum(t, b).div(torch.maximum(t, b).clamp_min(1e-6));
        return lr.mul(tb).sqrt();
    }

    /// <summary>
    /// Detections per image in the input frame: per level the top-k class scores above the threshold,
    /// boxes decoded and clipped to the image, scores times centerness, class-aware NMS, top detections.
    /// </summary>
    /// <param name="images">[B, 3, H, W] normalised images.</param>
    /// <param name="imageSizes">Per image the (H, W) of its content inside the padded batch, for clipping; null means the batch size.</param>
    public IReadOnlyList<Detections> Predict(Tensor images, IReadOnlyList<(int H, int W)>? imageSizes = null)
    {
        using var _ = torch.no_grad();
        var opt = Options.Inference ?? new AtssInferenceOptions();
        var outputs = forward(images);
        long batch = images.shape[0];
        int c = Options.NumClasses;
        var sizes = outputs.ClassLogits.Select(t => ((int)t.shape[2], (int)t.shape[3])).ToArray();
        var anchorsPerLevel = AnchorGenerator.GridAnchors(sizes, images.device);
        var results = new List<Detections>((int)batch);
        for (int b = 0; b < batch; b++)
        {
            using var scope = torch.NewDisposeScope();
            var (h, w) = imageSizes?[b] ?? ((int)images.shape[2], (int)images.shape[3]);
            var boxList = new List<Tensor>();
            var scoreList = new List<Tensor>();
            var labelList = new List<Tensor>();
            for (int l = 0; l < sizes.Length; l++)
            {
                var scores = torch.sigmoid(outputs.ClassLogits[l][b].permute(1, 2, 0).reshape(-1));   // [HW·C]
                var candidates = scores.gt(opt.ScoreThreshold).nonzero().squeeze(1);
                if (candidates.shape[0] == 0) continue;
                var candidateScores = scores.index_select(0, candidates);
                if (candidates.shape[0] > opt.PreNmsTopK)
                {
                    var top = candidateScores.topk(opt.PreNmsTopK);
                    candidateScores = top.values;
                    candidates = candidates.index_select(0, top.indexes);
                }
                var anchorIndex = candidates.div(c, rounding_mode: RoundingMode.floor);
                var classIndex = candidates.remainder(c);
                var deltas = outputs.BoxDeltas[l][b].permute(1, 2, 0).reshape(-1, 4).index_select(0, anchorIndex);
                var ctr = torch.sigmoid(outputs.Centerness[l][b].reshape(-1)).index_select(0, anchorIndex);
                boxList.Add(BoxCoder.Decode(anchorsPerLevel[l].index_select(0, anchorIndex), deltas, (h, w)));
                scoreList.Add(candidateScores.mul(ctr));
                labelList.Add(classIndex);
            }
            if (boxList.Count == 0)
            {
                results.Add(new Detections(torch.zeros(0, 4, device: images.device).MoveToOuterDisposeScope(),
                    torch.zeros(0, device: images.device).MoveToOuterDisposeScope(),
                    torch.zeros(0, dtype: ScalarType.Int64, device: images.device).MoveToOuterDisposeScope()));
                continue;
            }
            var allBoxes = torch.cat(boxList.ToArray(), 0);
            var allScores = torch.cat(scoreList.ToArray(), 0);
            var allLabels = torch.cat(labelList.ToArray(), 0);
            var keep = BoxOps.BatchedNms(allBoxes, allScores, allLabels, opt.NmsIoU);
            if (keep.shape[0] > opt.MaxDetections) keep = keep.narrow(0, 0, opt.MaxDetections);
            results.Add(new Detections(
                allBoxes.index_select(0, keep).MoveToOuterDisposeScope(),
                allScores.index_select(0, keep).MoveToOuterDisposeScope(),
                allLabels.index_select(0, keep).MoveToOuterDisposeScope()));
        }
        return results;
    }
}
