using HpfDet.Boxes;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Assigners;

/// <summary>Options of <see cref="UniformAssigner"/> (defaults: YOLOF's, as mmdetection 2.x's yolof_r50_c5_8x8_1x).</summary>
/// <param name="MatchTimes">Anchors and predictions each ground truth takes (k nearest of each kind).</param>
/// <param name="PositiveIgnoreIoU">A match whose anchor has an IoU with its ground truth below this is ignored, not positive.</param>
/// <param name="NegativeIgnoreIoU">A prediction whose best IoU with any ground truth is above this is ignored rather than background.</param>
public sealed record UniformAssignerOptions(int MatchTimes = 4, double PositiveIgnoreIoU = 0.15, double NegativeIgnoreIoU = 0.7);

/// <summary>
/// One image's uniform matching: per prior the assignment, and the (prior, ground truth) pairs the
/// box loss is taken over.
/// </summary>
/// <param name="Matches">[N] int64: the gt index of positives, <see cref="UniformAssigner.Background"/> or <see cref="UniformAssigner.Ignored"/>.</param>
/// <param name="PairPriors">[P] int64, P = 2·MatchTimes·G: the prior of each match, in match order.</param>
/// <param name="PairGts">[P] int64: the ground truth of each match.</param>
/// <param name="PairWeights">[P] float: 1 for matches kept, 0 for those ignored (anchor IoU below <see cref="UniformAssignerOptions.PositiveIgnoreIoU"/>).</param>
public sealed record UniformAssignment(Tensor Matches, Tensor PairPriors, Tensor PairGts, Tensor PairWeights);

/// <summary>
/// YOLOF's uniform matching (mmdetection 2.x's UniformAssigner): every ground truth takes the k anchors and
/// the k predicted boxes nearest to it by the L1 distance of (cx, cy, w, h), so large and small objects get
/// the same number of positives. Order of the 2·k·G matches: for rank r = 0..k-1, first the predictions'
/// r-th nearest of every gt, then the anchors' r-th nearest of every gt. A match whose anchor overlaps its
/// gt by IoU &lt; <see cref="UniformAssignerOptions.PositiveIgnoreIoU"/> marks its prior ignored (and has weight
/// 0 in the box loss); a prior matched several times takes its last match. Before that, priors whose
/// prediction overlaps some gt by IoU &gt; <see cref="UniformAssignerOptions.NegativeIgnoreIoU"/> are ignored
/// rather than background (the matches then overwrite them).
/// </summary>
public sealed class UniformAssigner
{
    /// <summary>Match value of background priors.</summary>
    public const long Background = -1;

    /// <summary>Match value of ignored priors.</summary>
    public const long Ignored = -2;

    public UniformAssignerOptions Options { get; }

    public UniformAssigner(UniformAssignerOptions? options = null)
    {
        Options = options ?? new UniformAssignerOptions();
        if (Options.MatchTimes < 1)
            throw new HpfDetException($"UniformAssignerOptions.MatchTimes must be >= 1, got {Options.MatchTimes}.");
        if (!(Options.PositiveIgnoreIoU >= 0 && Options.PositiveIgnoreIoU <= 1) || !(Options.NegativeIgnoreIoU >= 0 && Options.NegativeIgnoreIoU <= 1))
            throw new HpfDetException($"UniformAssignerOptions: the IoU thresholds must lie in [0, 1]; got {Options.PositiveIgnoreIoU} and {Options.NegativeIgnoreIoU}.");
    }

    /// <summary>Matches priors and their decoded predictions to ground-truth boxes (runs without gradient).</summary>
    /// <param name="priors">[N, 4] anchors (xyxy).</param>
    /// <param name="predictions">[N, 4] the boxes the head predicts from each anchor (xyxy).</param>
    /// <param name="gtBoxes">[G, 4] ground truth (xyxy).</param>
    public UniformAssignment Assign(Tensor priors, Tensor predictions, Tensor gtBoxes)
    {
        using var _ = torch.no_grad();
        using var scope = NewDisposeScope();
        long n = priors.shape[0], g = gtBoxes.shape[0];
        var device = priors.device;
        using var background = Background.ToScalar();
        using var ignored = Ignored.ToScalar();
        if (g == 0 || n == 0)
        {
            var none = torch.full(n, background, dtype: ScalarType.Int64, device: device);
            var empty = torch.zeros(0, dtype: ScalarType.Int64, device: device);
            return Detach(new UniformAssignment(none, empty, empty.clone(), torch.zeros(0, dtype: gtBoxes.dtype, device: device)));
        }
        var anchors = priors.to(gtBoxes.dtype);
        var predicted = predictions.to(gtBoxes.dtype);
        int k = (int)Math.Min(Options.MatchTimes, n);

        // [k, G] each: the k nearest predictions and the k nearest anchors of every gt.
        var nearestPredictions = L1Distance(predicted, gtBoxes).topk(k, dim: 0, largest: false).indexes;
        var nearestAnchors = L1Distance(anchors, gtBoxes).topk(k, dim: 0, largest: false).indexes;
        var pairPriors = torch.cat([nearestPredictions, nearestAnchors], 1).reshape(-1);          // [2kG], rank-major
        var pairGts = ScalarFreeFactories.Arange(g, device: device).repeat(2 * k);                // [2kG]

        var anchorIoU = BoxOps.PairwiseIoU(anchors, gtBoxes);                                     // [N, G]
        var predictionIoU = BoxOps.PairwiseIoU(predicted, gtBoxes);                               // [N, G]
        var pairIoU = anchorIoU.index_select(0, pairPriors).gather(1, pairGts.unsqueeze(1)).squeeze(1);
        using var positiveIgnore = Options.PositiveIgnoreIoU.ToScalar();
        using var negativeIgnore = Options.NegativeIgnoreIoU.ToScalar();
        var kept = pairIoU.ge(positiveIgnore);

        var matches = torch.full(n, background, dtype: ScalarType.Int64, device: device)
            .masked_fill_(predictionIoU.max(1).values.gt(negativeIgnore), ignored);
        // A prior matched several times takes its last match: sort the matches by (prior, position) and keep
        // the last of each prior's run, so that every prior is written once.
        long p = pairPriors.shape[0];
        using var pairCount = p.ToScalar();
        var (key, _) = pairPriors.mul(pairCount).add(ScalarFreeFactories.Arange(p, device: device), ScalarConstants.One).sort();
        var sortedPriors = key.div(pairCount, rounding_mode: RoundingMode.floor);
        var sortedPositions = key.remainder(pairCount);
        var isLast = torch.cat([sortedPriors.narrow(0, 1, p - 1).ne(sortedPriors.narrow(0, 0, p - 1)), torch.ones(1, dtype: ScalarType.Bool, device: device)], 0);
        var lastPriors = sortedPriors.masked_select(isLast);
        var lastPositions = sortedPositions.masked_select(isLast);
        var value = torch.where(kept.index_select(0, lastPositions), pairGts.index_select(0, lastPositions), torch.full_like(lastPositions, ignored));
        matches = matches.index_copy_(0, lastPriors, value);
        return Detach(new UniformAssignment(matches, pairPriors, pairGts, kept.to(gtBoxes.dtype)));
    }

    static UniformAssignment Detach(UniformAssignment a) => new(
        a.Matches.MoveToOuterDisposeScope(), a.PairPriors.MoveToOuterDisposeScope(), a.PairGts.MoveToOuterDisposeScope(), a.PairWeights.MoveToOuterDisposeScope());

    /// <summary>Σ |Δ| over (cx, cy, w, h) of every pair: boxes [N, 4], gt [G, 4] → [N, G].</summary>
    public static Tensor L1Distance(Tensor boxes, Tensor gt)
    {
        using var scope = NewDisposeScope();
        return (CenterSize(boxes).unsqueeze(1) - CenterSize(gt).unsqueeze(0)).abs().sum(-1).MoveToOuterDisposeScope();
    }

    static Tensor CenterSize(Tensor boxes)
    {
        var xy1 = boxes.narrow(-1, 0, 2);
        var xy2 = boxes.narrow(-1, 2, 2);
        return torch.cat([xy1.add(xy2, ScalarConstants.One).mul(ScalarConstants.HalfDouble), xy2 - xy1], -1);
    }
}
