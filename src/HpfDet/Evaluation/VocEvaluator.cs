namespace HpfDet.Evaluation;

/// <summary>VOC average precision of one class; <see cref="Ap"/> is NaN when the class has no non-difficult ground truth.</summary>
public sealed record VocClassAp(int CategoryId, string Name, double Ap, int NumPositives, int NumDetections);

/// <summary>Per-class VOC AP (ascending category id) and their mean over the classes where AP is defined (NaN if none).</summary>
public sealed record VocResult(IReadOnlyList<VocClassAp> PerClass, double MeanAp, double IouThreshold);

/// <summary>
/// Pascal VOC mAP (VOC2010+ all-points interpolation), as VOC and YOLO users report it. Per class:
/// <list type="number">
/// <item>Detections sorted by descending score (ties keep input order).</item>
/// <item>Each detection takes the ground truth of its image with the highest IoU (first one on a tie);
///   IoU &gt;= threshold and not yet taken: TP; taken already or IoU below: FP; the best ground truth is
///   difficult: neither. Difficult = COCO iscrowd=1 or the annotation's difficult/ignore flag.</item>
/// <item>recall = tp / non-difficult count, precision = tp / max(tp + fp, eps); AP is the area under the
///   precision envelope (running max from the right) summed where recall changes.</item>
/// </list>
/// IoU is the continuous intersection over union of [x, y, w, h] boxes (no +1 pixel).
/// Detections of unknown categories are dropped; unknown image ids are an error, as in <see cref="CocoEvaluator"/>.
/// </summary>
public static class VocEvaluator
{
    /// <summary>Mean AP at IoU 0.5.</summary>
    public static double MeanAp50(CocoGroundTruth groundTruth, CocoDetections detections) => Evaluate(groundTruth, detections).MeanAp;

    /// <summary>Per-class AP at <paramref name="iouThreshold"/> and their mean.</summary>
    public static VocResult Evaluate(CocoGroundTruth groundTruth, CocoDetections detections, double iouThreshold = 0.5)
    {
        var cats = groundTruth.Categories.OrderBy(c => c.Id).ToArray();
        var catIndex = new Dictionary<int, int>();
        for (var k = 0; k < cats.Length; k++) catIndex[cats[k].Id] = k;
        var imageIds = new HashSet<long>(groundTruth.Images.Select(i => i.Id));

        // Ground truth per (class, image).
        var gtByCell = new Dictionary<(int, long), List<CocoAnnotation>>();
        var positives = new int[cats.Length];
        foreach (var a in groundTruth.Annotations)
        {
            var k = catIndex[a.CategoryId];
            if (!gtByCell.TryGetValue((k, a.ImageId), out var list)) gtByCell[(k, a.ImageId)] = list = [];
            list.Add(a);
            if (!IsDifficult(a)) positives[k]++;
        }

        var perClassDets = new List<int>[cats.Length];
        for (var k = 0; k < cats.Length; k++) perClassDets[k] = [];
        var unknownImages = new SortedSet<long>();
        for (var i = 0; i < detections.Count; i++)
        {
            if (!imageIds.Contains(detections.ImageIds[i])) { unknownImages.Add(detections.ImageIds[i]); continue; }
            if (catIndex.TryGetValue(detections.CategoryIds[i], out var k)) perClassDets[k].Add(i);
        }
        if (unknownImages.Count > 0)
            throw new HpfDetException($"Detections refer to image ids that are not in the ground truth: {string.Join(", ", unknownImages.Take(20))}{(unknownImages.Count > 20 ? ", ..." : "")}. " +
                "Evaluate results against the ground-truth file they were produced for, or remove those detections.");

        var perClass = new VocClassAp[cats.Length];
        Parallel.For(0, cats.Length, k => perClass[k] = EvaluateClass(k, cats[k], perClassDets[k], positives[k], gtByCell, detections, iouThreshold));
        var defined = perClass.Where(c => !double.IsNaN(c.Ap)).Select(c => c.Ap).ToList();
        return new VocResult(perClass, defined.Count == 0 ? double.NaN : defined.Sum() / defined.Count, iouThreshold);
    }

    static bool IsDifficult(CocoAnnotation a) => a.IsCrowd || a.Difficult;

    static VocClassAp EvaluateClass(int k, CocoCategory cat, List<int> dets, int npos, Dictionary<(int, long), List<CocoAnnotation>> gtByCell,
        CocoDetections detections, double threshold)
    {
        var order = dets.ToArray();
        var keys = order.Select(i => -detections.Scores[i]).ToArray();
        CocoEvaluator.StableSortByKey(keys, order);
        var taken = new Dictionary<(long, int), bool>();
        var boxes = detections.Boxes;
        var tp = new double[order.Length];
        var fp = new double[order.Length];
        for (var j = 0; j < order.Length; j++)
        {
            var d = order[j];
            var image = detections.ImageIds[d];
            double best = double.NegativeInfinity; var bestIndex = -1;
            if (gtByCell.TryGetValue((k, image), out var gts))
                for (var g = 0; g < gts.Count; g++)
                {
                    var iou = Iou(boxes[4 * d], boxes[4 * d + 1], boxes[4 * d + 2], boxes[4 * d + 3], gts[g]);
                    if (iou > best) { best = iou; bestIndex = g; }
                }
            if (bestIndex >= 0 && best >= threshold)
            {
                if (IsDifficult(gts![bestIndex])) continue;
                if (taken.TryAdd((image, bestIndex), true)) tp[j] = 1; else fp[j] = 1;
            }
            else fp[j] = 1;
        }
        var ap = npos == 0 ? double.NaN : AllPointsAp(tp, fp, npos);
        return new VocClassAp(cat.Id, cat.Name, ap, npos, order.Length);
    }

    /// <summary>Area under the monotone precision envelope, VOC2010+ style.</summary>
    internal static double AllPointsAp(double[] tp, double[] fp, int npos)
    {
        var n = tp.Length;
        var rec = new double[n + 2];
        var prec = new double[n + 2];
        double ctp = 0, cfp = 0;
        for (var i = 0; i < n; i++)
        {
            ctp += tp[i]; cfp += fp[i];
            rec[i + 1] = ctp / npos;
            prec[i + 1] = ctp / Math.Max(ctp + cfp, double.Epsilon);
        }
        rec[n + 1] = 1; prec[n + 1] = 0;
        for (var i = n; i >= 0; i--) prec[i] = Math.Max(prec[i], prec[i + 1]);
        double ap = 0;
        for (var i = 0; i <= n; i++)
            if (rec[i + 1] != rec[i]) ap += (rec[i + 1] - rec[i]) * prec[i + 1];
        return ap;
    }

    static double Iou(double x, double y, double w, double h, CocoAnnotation g)
    {
        var iw = Math.Min(x + w, g.X + g.W) - Math.Max(x, g.X);
        var ih = Math.Min(y + h, g.Y + g.H) - Math.Max(y, g.Y);
        if (iw <= 0 || ih <= 0) return 0;
        var inter = iw * ih;
        var union = w * h + g.W * g.H - inter;
        return union > 0 ? inter / union : 0;
    }
}
