using TorchSharp;
using static TorchSharp.torch;
using static HpfDet.ScalarConstants;

namespace HpfDet.Boxes;

/// <summary>
/// Geometry on axis-aligned boxes in (x1, y1, x2, y2) pixel coordinates, float32 on any device.
/// Widths are x2 - x1 (no +1). Degenerate boxes (x2 &lt;= x1 or y2 &lt;= y1) have area 0, and every
/// ratio divides by a denominator clamped at a small epsilon, so zero-area boxes give IoU 0, never NaN.
/// </summary>
public static class BoxOps
{
    /// <summary>Denominator floor for IoU/IoF/GIoU (same as mmdetection's bbox_overlaps).</summary>
    public const double DefaultEps = 1e-6;

    /// <summary>Box areas with negative widths/heights clamped to 0. boxes [N, 4] → [N].</summary>
    public static Tensor Area(Tensor boxes)
    {
        using var scope = NewDisposeScope();
        var w = (boxes.select(-1, 2) - boxes.select(-1, 0)).clamp_min(Zero);
        var h = (boxes.select(-1, 3) - boxes.select(-1, 1)).clamp_min(Zero);
        return (w * h).MoveToOuterDisposeScope();
    }

    /// <summary>Box centres (cx, cy). boxes [N, 4] → [N, 2].</summary>
    public static Tensor Centers(Tensor boxes)
    {
        using var scope = NewDisposeScope();
        var xy1 = boxes.narrow(-1, 0, 2);
        var xy2 = boxes.narrow(-1, 2, 2);
        return xy1.add(xy2, One).mul(HalfDouble).MoveToOuterDisposeScope();
    }

    /// <summary>Clamps x to [0, width] and y to [0, height]. boxes [N, 4] → [N, 4] (new tensor).</summary>
    public static Tensor ClipToImage(Tensor boxes, int height, int width)
    {
        using var scope = NewDisposeScope();
        using var maxX = width.ToScalar();
        using var maxY = height.ToScalar();
        var x1 = boxes.select(-1, 0).clamp(Zero, maxX);
        var y1 = boxes.select(-1, 1).clamp(Zero, maxY);
        var x2 = boxes.select(-1, 2).clamp(Zero, maxX);
        var y2 = boxes.select(-1, 3).clamp(Zero, maxY);
        return stack(new[] { x1, y1, x2, y2 }, -1).MoveToOuterDisposeScope();
    }

    /// <summary>Intersection areas of every pair. a [N, 4], b [M, 4] → [N, M].</summary>
    public static Tensor PairwiseIntersection(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        var lt = maximum(a.narrow(-1, 0, 2).unsqueeze(1), b.narrow(-1, 0, 2).unsqueeze(0)); // [N, M, 2]
        var rb = minimum(a.narrow(-1, 2, 2).unsqueeze(1), b.narrow(-1, 2, 2).unsqueeze(0)); // [N, M, 2]
        var wh = (rb - lt).clamp_min(Zero);
        return (wh.select(-1, 0) * wh.select(-1, 1)).MoveToOuterDisposeScope();
    }

    /// <summary>IoU of every pair: inter / max(areaA + areaB - inter, eps). a [N, 4], b [M, 4] → [N, M].</summary>
    public static Tensor PairwiseIoU(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        var inter = PairwiseIntersection(a, b);
        var union = Area(a).unsqueeze(1).add(Area(b).unsqueeze(0), One) - inter;
        using var eps = DefaultEps.ToScalar();
        return (inter / union.clamp_min(eps)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Intersection over the area of the first box ("IoF", as mmdetection's mode='iof'):
    /// inter / max(areaA, eps). Used to find anchors that lie inside crowd regions. a [N, 4], b [M, 4] → [N, M].
    /// </summary>
    public static Tensor PairwiseIoF(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        var inter = PairwiseIntersection(a, b);
        using var eps = DefaultEps.ToScalar();
        return (inter / Area(a).unsqueeze(1).clamp_min(eps)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Generalised IoU of every pair: IoU - (enclose - union) / max(enclose, eps), in [-1, 1].
    /// a [N, 4], b [M, 4] → [N, M].
    /// </summary>
    public static Tensor PairwiseGIoU(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        var inter = PairwiseIntersection(a, b);
        using var eps = DefaultEps.ToScalar();
        var union = (Area(a).unsqueeze(1).add(Area(b).unsqueeze(0), One) - inter).clamp_min(eps);
        var iou = inter / union;
        var lt = minimum(a.narrow(-1, 0, 2).unsqueeze(1), b.narrow(-1, 0, 2).unsqueeze(0));
        var rb = maximum(a.narrow(-1, 2, 2).unsqueeze(1), b.narrow(-1, 2, 2).unsqueeze(0));
        var wh = (rb - lt).clamp_min(Zero);
        var enclose = (wh.select(-1, 0) * wh.select(-1, 1)).clamp_min(eps);
        return (iou - (enclose - union) / enclose).MoveToOuterDisposeScope();
    }

    /// <summary>IoU of corresponding rows. a [N, 4], b [N, 4] → [N].</summary>
    public static Tensor AlignedIoU(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        var inter = AlignedIntersection(a, b);
        var union = Area(a).add(Area(b), One) - inter;
        using var eps = DefaultEps.ToScalar();
        return (inter / union.clamp_min(eps)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Generalised IoU of corresponding rows (differentiable; the GIoU loss is 1 - this).
    /// a [N, 4], b [N, 4] → [N].
    /// </summary>
    /// <param name="a">[N, 4]</param>
    /// <param name="b">[N, 4]</param>
    /// <param name="eps">Guards the divisions.</param>
    /// <param name="epsMode">Clamp the denominators to at least eps (mmdetection) or add eps to them (torchvision's generalized_box_iou_loss).</param>
    public static Tensor AlignedGIoU(Tensor a, Tensor b, double eps = 1e-6, GIoUEps epsMode = GIoUEps.Clamp)
    {
        using var scope = NewDisposeScope();
        using var floor = eps.ToScalar();
        var inter = AlignedIntersection(a, b);
        var union = Area(a).add(Area(b), One) - inter;
        var lt = minimum(a.narrow(-1, 0, 2), b.narrow(-1, 0, 2));
        var rb = maximum(a.narrow(-1, 2, 2), b.narrow(-1, 2, 2));
        var wh = (rb - lt).clamp_min(Zero);
        var enclose = wh.select(-1, 0) * wh.select(-1, 1);
        if (epsMode == GIoUEps.Add)
        {
            var iouAdd = inter / union.add(floor, One);
            return (iouAdd - (enclose - union) / enclose.add(floor, One)).MoveToOuterDisposeScope();
        }
        union = union.clamp_min(floor);
        enclose = enclose.clamp_min(floor);
        var iou = inter / union;
        return (iou - (enclose - union) / enclose).MoveToOuterDisposeScope();
    }

    /// <summary>Greedy NMS (torchvision semantics); see <see cref="Boxes.Nms.Apply"/>. boxes [N, 4], scores [N] → kept [K] int64.</summary>
    public static Tensor Nms(Tensor boxes, Tensor scores, double iouThreshold)
        => Boxes.Nms.Apply(boxes, scores, iouThreshold);

    /// <summary>Class-aware NMS; see <see cref="Boxes.Nms.BatchedNms"/>. boxes [N, 4], scores [N], classIds [N] → kept [K] int64.</summary>
    public static Tensor BatchedNms(Tensor boxes, Tensor scores, Tensor classIds, double iouThreshold)
        => Boxes.Nms.BatchedNms(boxes, scores, classIds, iouThreshold);

    private static Tensor AlignedIntersection(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        var lt = maximum(a.narrow(-1, 0, 2), b.narrow(-1, 0, 2));
        var rb = minimum(a.narrow(-1, 2, 2), b.narrow(-1, 2, 2));
        var wh = (rb - lt).clamp_min(Zero);
        return (wh.select(-1, 0) * wh.select(-1, 1)).MoveToOuterDisposeScope();
    }
}

/// <summary>How <see cref="BoxOps.AlignedGIoU"/> guards its divisions.</summary>
public enum GIoUEps
{
    /// <summary>Denominators clamped to at least eps (mmdetection's GIoU loss).</summary>
    Clamp,
    /// <summary>eps added to the denominators (torchvision's generalized_box_iou_loss, eps 1e-7).</summary>
    Add,
}
