using HpfDet.Boxes;
using TorchSharp;
using static TorchSharp.torch;
using static HpfDet.ScalarConstants;

namespace HpfDet.Assigners;

/// <summary>Options of <see cref="AtssAssigner"/> (defaults are mmdetection v2's ATSS settings).</summary>
/// <param name="TopK">Candidates per level and per gt: the TopK anchors with the nearest centres.</param>
/// <param name="IgnoreIofThreshold">When positive, an anchor whose intersection with a crowd box, over the anchor's own area,
/// exceeds this is taken out of the candidates and ignored (-1) unless it is positive for another gt; -1 (mmdetection's
/// default) turns this off, and crowd boxes then only never get positives.</param>
/// <param name="CenterInsideMargin">A candidate's centre must be farther than this (pixels) from every edge of the gt box.</param>
public sealed record AtssAssignerOptions(int TopK = 9, double IgnoreIofThreshold = -1, double CenterInsideMargin = 0.01);

/// <summary>
/// Adaptive Training Sample Selection (Zhang et al., CVPR 2020), with mmdetection v2 ATSSAssigner semantics.
/// For every anchor it picks a gt (or background, or ignore) as follows:
/// <list type="number">
/// <item>compute the IoU between all anchors and all gts, [N, G];</item>
/// <item>compute the distance between the centres of all anchors and all gts, [N, G];</item>
/// <item>on each level, select as candidates for each gt the k = min(TopK, N_l) anchors whose centres are
/// nearest the gt centre (equal distances: lower anchor index first);</item>
/// <item>for each gt, take the mean and the standard deviation (unbiased, as torch.std; 0 when there is a
/// single candidate) of its candidates' IoUs; the threshold is mean + std;</item>
/// <item>a candidate is positive for the gt when its IoU &gt;= the threshold and its centre lies inside the
/// gt box by more than CenterInsideMargin on all four sides;</item>
/// <item>an anchor positive for several gts goes to the gt with the highest IoU (ties: the lowest gt index,
/// as torch.max); every other anchor is negative.</item>
/// </list>
/// Crowd gts (gtIsCrowd) never get positives. With a positive IgnoreIofThreshold, anchors whose IoF with
/// any crowd box exceeds it are excluded from the candidates and marked ignore (-1), unless positive for
/// a gt (as mmdetection, where a later positive assignment overrides the ignore mark).
/// Runs under no_grad, fully on the anchors' device, vectorised over gts, without host synchronisation.
/// </summary>
public sealed class AtssAssigner
{
    // Stands for "no distance"/"no overlap" like mmdetection's INF, without the float32 overflow of 1e8².
    private const double Inf = 1e8;

    public AtssAssigner(AtssAssignerOptions? options = null)
    {
        Options = options ?? new AtssAssignerOptions();
        if (Options.TopK < 1)
        {
            throw new HpfDetException($"AtssAssignerOptions.TopK must be >= 1 (mmdetection uses 9); got {Options.TopK}.");
        }
    }

    public AtssAssignerOptions Options { get; }

    /// <summary>
    /// Assigns anchors given per level. anchorsPerLevel[l] [N_l, 4]; gtBoxes [G, 4]; gtLabels [G] int64 in
    /// [0, numClasses); gtIsCrowd [G] bool or null → <see cref="AssignResult"/> over N = Σ N_l anchors
    /// in level order.
    /// </summary>
    public AssignResult Assign(IReadOnlyList<Tensor> anchorsPerLevel, Tensor gtBoxes, Tensor gtLabels, int numClasses, Tensor? gtIsCrowd = null)
    {
        if (anchorsPerLevel.Count == 0)
        {
            throw new ArgumentException("ATSS needs at least one level of anchors.");
        }
        using var scope = NewDisposeScope();
        var anchors = cat(anchorsPerLevel.ToArray(), 0);
        var counts = anchorsPerLevel.Select(a => checked((int)a.shape[0])).ToArray();
        var result = Assign(anchors, counts, gtBoxes, gtLabels, numClasses, gtIsCrowd);
        result.AssignedGtIndex.MoveToOuterDisposeScope();
        result.AssignedLabels.MoveToOuterDisposeScope();
        result.MaxOverlaps.MoveToOuterDisposeScope();
        return result;
    }

    /// <summary>
    /// Assigns concatenated anchors. anchors [N, 4] with numAnchorsPerLevel summing to N; the rest as the other overload.
    /// </summary>
    public AssignResult Assign(Tensor anchors, int[] numAnchorsPerLevel, Tensor gtBoxes, Tensor gtLabels, int numClasses, Tensor? gtIsCrowd = null)
    {
        Validate(anchors, numAnchorsPerLevel, gtBoxes, gtLabels, numClasses, gtIsCrowd);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var device = anchors.device;
        var n = anchors.shape[0];
        var g = gtBoxes.shape[0];
        anchors = anchors.to(float32);
        gtBoxes = gtBoxes.to(float32, device);
        gtLabels = gtLabels.to(int64, device);
        using var background = ((long)numClasses).ToScalar();

        if (g == 0 || n == 0)
        {
            return Finish(
                zeros(n, dtype: int64, device: device),
                full(n, background, dtype: int64, device: device),
                zeros(n, dtype: float32, device: device),
                (int)g);
        }

        // 1) IoU [N, G]
        var overlaps = BoxOps.PairwiseIoU(anchors, gtBoxes);
        // 2) centre distances [N, G]
        var anchorCenters = BoxOps.Centers(anchors); // [N, 2]
        var gtCenters = BoxOps.Centers(gtBoxes);     // [G, 2]
        var distances = (anchorCenters.unsqueeze(1) - gtCenters.unsqueeze(0)).pow(Two).sum(-1).sqrt();

        var isCrowd = gtIsCrowd is null
            ? zeros(g, dtype: @bool, device: device)
            : gtIsCrowd.to(@bool, device);
        var notCrowd = isCrowd.logical_not();                               // [G]
        var iofWithCrowd = BoxOps.PairwiseIoF(anchors, gtBoxes).masked_fill(notCrowd.unsqueeze(0), Zero);
        using var ignoreIof = Options.IgnoreIofThreshold.ToScalar();
        using var far = Inf.ToScalar();
        var ignored = Options.IgnoreIofThreshold > 0
            ? iofWithCrowd.max(1).values.gt(ignoreIof)     // [N]
            : zeros(n, dtype: @bool, device: device);
        distances = distances.masked_fill(ignored.unsqueeze(1), far);

        // 3) per level, the k nearest anchors per gt (stable sort: deterministic tie order on every device)
        var candidateParts = new List<Tensor>(numAnchorsPerLevel.Length);
        long start = 0;
        foreach (var count in numAnchorsPerLevel)
        {
            if (count > 0)
            {
                var k = Math.Min(Options.TopK, count);
                var nearest = distances.narrow(0, start, count).sort(0, descending: false, stable: true).Indices.narrow(0, 0, k);
                using var offset = start.ToScalar();
                candidateParts.Add(nearest.add(offset, One));
            }
            start += count;
        }
        var candidateIdxs = cat(candidateParts, 0);                          // [K, G]
        var numCandidates = candidateIdxs.shape[0];

        // 4) adaptive IoU threshold per gt
        var candidateOverlaps = overlaps.gather(0, candidateIdxs);         // [K, G]
        var mean = candidateOverlaps.mean([0L]);
        var std = numCandidates > 1 ? candidateOverlaps.std(0, unbiased: true) : zeros_like(mean);
        var threshold = mean.add(std, One);                                        // [G]
        var isPos = candidateOverlaps.ge(threshold.unsqueeze(0));          // [K, G]

        // 5) candidate centre strictly inside the gt box
        var cx = anchorCenters.select(1, 0).index_select(0, candidateIdxs.reshape(-1)).reshape(numCandidates, g);
        var cy = anchorCenters.select(1, 1).index_select(0, candidateIdxs.reshape(-1)).reshape(numCandidates, g);
        var left = cx - gtBoxes.select(1, 0).unsqueeze(0);
        var top = cy - gtBoxes.select(1, 1).unsqueeze(0);
        var right = gtBoxes.select(1, 2).unsqueeze(0) - cx;
        var bottom = gtBoxes.select(1, 3).unsqueeze(0) - cy;
        using var margin = Options.CenterInsideMargin.ToScalar();
        var inside = minimum(minimum(left, top), minimum(right, bottom)).gt(margin);
        isPos = isPos.logical_and(inside).logical_and(notCrowd.unsqueeze(0));

        // 6) resolve anchors positive for several gts by the highest IoU
        // Candidate indices are distinct within a column, so the scatter writes each cell at most once.
        var positiveCells = zeros(n, g, dtype: float32, device: device)
            .scatter(0, candidateIdxs, isPos.to(float32)).gt(Zero);          // [N, G]
        using var none = (-Inf).ToScalar();
        var positiveOverlaps = overlaps.masked_fill(positiveCells.logical_not(), none);
        var (bestOverlap, bestGt) = positiveOverlaps.max(1);                // [N]
        var positive = positiveCells.any(1);

        var assignedGtIndex = where(positive, bestGt.add(One, One), where(ignored, tensor(-1L), tensor(0L)));
        var assignedLabels = where(positive, gtLabels.index_select(0, bestGt),
            where(ignored, tensor(-1L), tensor((long)numClasses)));
        var bestAny = overlaps.masked_fill(isCrowd.unsqueeze(0), Zero).max(1).values;
        var maxOverlaps = where(positive, bestOverlap, bestAny);
        return Finish(assignedGtIndex, assignedLabels, maxOverlaps, (int)g);
    }

    private static AssignResult Finish(Tensor gtIndex, Tensor labels, Tensor maxOverlaps, int numGts)
        => new(gtIndex.MoveToOuterDisposeScope(), labels.MoveToOuterDisposeScope(), maxOverlaps.MoveToOuterDisposeScope(), numGts);

    private static void Validate(Tensor anchors, int[] numAnchorsPerLevel, Tensor gtBoxes, Tensor gtLabels, int numClasses, Tensor? gtIsCrowd)
    {
        if (anchors.dim() != 2 || anchors.shape[1] != 4)
        {
            throw new ArgumentException($"ATSS anchors must be [N, 4]; got [{string.Join(", ", anchors.shape)}].");
        }
        if (numAnchorsPerLevel.Length == 0 || numAnchorsPerLevel.Any(c => c < 0) || numAnchorsPerLevel.Sum(c => (long)c) != anchors.shape[0])
        {
            throw new ArgumentException(
                $"ATSS numAnchorsPerLevel ({string.Join(", ", numAnchorsPerLevel)}) must be non-negative and sum to the {anchors.shape[0]} anchors.");
        }
        if (gtBoxes.dim() != 2 || gtBoxes.shape[1] != 4)
        {
            throw new ArgumentException($"ATSS gt boxes must be [G, 4]; got [{string.Join(", ", gtBoxes.shape)}].");
        }
        if (gtLabels.dim() != 1 || gtLabels.shape[0] != gtBoxes.shape[0])
        {
            throw new ArgumentException($"ATSS gt labels must be [G] with G = {gtBoxes.shape[0]}; got [{string.Join(", ", gtLabels.shape)}].");
        }
        if (gtIsCrowd is not null && (gtIsCrowd.dim() != 1 || gtIsCrowd.shape[0] != gtBoxes.shape[0]))
        {
            throw new ArgumentException($"ATSS gtIsCrowd must be [G] with G = {gtBoxes.shape[0]}; got [{string.Join(", ", gtIsCrowd.shape)}].");
        }
        if (numClasses < 1)
        {
            throw new ArgumentException($"ATSS numClasses must be >= 1; got {numClasses}.");
        }
    }
}
