using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Assigners;

/// <summary>
/// Which ground truth each anchor is trained against (mmdetection's AssignResult conventions).
/// </summary>
/// <param name="AssignedGtIndex">[N] int64: 0 = negative, i + 1 = matched to gt i (index into the gt tensor given to the assigner), -1 = ignore.</param>
/// <param name="AssignedLabels">[N] int64: class of the matched gt for positives, numClasses for negatives (background), -1 for ignored anchors.</param>
/// <param name="MaxOverlaps">[N] float32: IoU with the matched gt for positives; for the others the largest IoU with any non-crowd gt (0 when there is none).</param>
/// <param name="NumGts">Number of gt boxes given to the assigner (crowd ones included), so AssignedGtIndex ∈ [-1, NumGts].</param>
public sealed record AssignResult(Tensor AssignedGtIndex, Tensor AssignedLabels, Tensor MaxOverlaps, int NumGts) : IDisposable
{
    /// <summary>Anchors matched to a gt. → [N] bool.</summary>
    public Tensor PositiveMask() => AssignedGtIndex.gt(ScalarConstants.Zero);

    /// <summary>Anchors that are background. → [N] bool.</summary>
    public Tensor NegativeMask() => AssignedGtIndex.eq(ScalarConstants.Zero);

    /// <summary>Anchors excluded from every loss. → [N] bool.</summary>
    public Tensor IgnoreMask() => AssignedGtIndex.lt(ScalarConstants.Zero);

    /// <summary>
    /// The matched gt box of every anchor (regression target before encoding): gtBoxes [G, 4] → [N, 4];
    /// rows of non-positive anchors are 0. Encode with <see cref="Boxes.DeltaXYWHBoxCoder.Encode"/> against the anchors.
    /// </summary>
    public Tensor MatchedGtBoxes(Tensor gtBoxes)
    {
        using var scope = NewDisposeScope();
        var n = AssignedGtIndex.shape[0];
        if (gtBoxes.shape[0] == 0)
        {
            return zeros(n, 4, dtype: gtBoxes.dtype, device: gtBoxes.device).MoveToOuterDisposeScope();
        }
        var positive = PositiveMask();
        var index = AssignedGtIndex.sub(ScalarConstants.One).clamp_min(ScalarConstants.Zero);
        var boxes = gtBoxes.index_select(0, index);
        return boxes.masked_fill(positive.logical_not().unsqueeze(1), ScalarConstants.Zero).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        AssignedGtIndex.Dispose();
        AssignedLabels.Dispose();
        MaxOverlaps.Dispose();
    }
}
