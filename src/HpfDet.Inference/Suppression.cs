namespace HpfDet.Inference;

/// <summary>
/// Class-aware greedy NMS with torchvision's CPU semantics, repeated from HpfDet.Boxes.Nms (whose
/// host path this is) because this library must not depend on TorchSharp: boxes visited by
/// descending score (stable: equal scores keep input order), float32 areas and IoU, suppression when
/// IoU is strictly above the float64 threshold, boxes of different classes never suppress each other.
/// </summary>
internal static class Suppression
{
    /// <summary>boxes [N·4] xyxy, scores [N], labels [N] → kept indices sorted by descending score.</summary>
    public static int[] BatchedNms(float[] boxes, float[] scores, int[] labels, double iouThreshold)
    {
        int n = scores.Length;
        var order = Enumerable.Range(0, n).OrderByDescending(i => scores[i]).ToArray();   // LINQ ordering is stable
        var areas = new float[n];
        for (int i = 0; i < n; i++) areas[i] = (boxes[4 * i + 2] - boxes[4 * i]) * (boxes[4 * i + 3] - boxes[4 * i + 1]);
        var suppressed = new bool[n];
        var keep = new List<int>();
        for (int oi = 0; oi < n; oi++)
        {
            int i = order[oi];
            if (suppressed[oi]) continue;
            keep.Add(i);
            float ix1 = boxes[4 * i], iy1 = boxes[4 * i + 1], ix2 = boxes[4 * i + 2], iy2 = boxes[4 * i + 3];
            for (int oj = oi + 1; oj < n; oj++)
            {
                int j = order[oj];
                if (suppressed[oj] || labels[j] != labels[i]) continue;
                var w = MathF.Max(0f, MathF.Min(ix2, boxes[4 * j + 2]) - MathF.Max(ix1, boxes[4 * j]));
                var h = MathF.Max(0f, MathF.Min(iy2, boxes[4 * j + 3]) - MathF.Max(iy1, boxes[4 * j + 1]));
                var inter = w * h;
                var union = areas[i] + areas[j] - inter;
                if (union > 0f && (double)(inter / union) > iouThreshold) suppressed[oj] = true;
            }
        }
        return keep.ToArray();
    }
}
