namespace HpfDet.Evaluation;

/// <summary>
/// Bounding-box evaluation with exactly the numbers of pycocotools' COCOeval (evaluate, accumulate,
/// summarize), rewritten over flat arrays and run in parallel over categories. Steps:
/// <list type="number">
/// <item>Group ground truths and detections by (category, image); images and categories in ascending id order.</item>
/// <item>Per (category, image): stable sort detections by descending score, keep the first maxDets[-1];
///   IoU as pycocotools' bbIou (crowd: intersection over detection area; zero-size boxes give 0).</item>
/// <item>Per area range: ground truths that are crowd or outside the closed range are ignored and put last;
///   for each IoU threshold, detections in score order take the best still-free ground truth
///   (a later ground truth wins a tie; a match to a non-ignored ground truth stops the search at the ignored ones).
///   Unmatched detections outside the range are ignored.</item>
/// <item>Per category: detections of all images in one stable descending-score order (ties: lower image id,
///   then in-image order); per (area, maxDets, IoU) cumulative TP/FP, precision = tp/(tp+fp+eps),
///   interpolated from the right, read at the recall thresholds (searchsorted left).</item>
/// <item>Summary: means over defined entries (&gt; -1) as numpy computes them.</item>
/// </list>
/// Matched state is tracked apart from annotation ids, so an annotation with id 0 matches like any other
/// (pycocotools counts a detection matched to id 0 as unmatched).
/// </summary>
public static class CocoEvaluator
{
    /// <summary>pycocotools' np.spacing(1).</summary>
    const double Eps = 2.220446049250313e-16;

    static readonly double[,] AreaRanges = { { 0, 1e10 }, { 0, 1024 }, { 1024, 9216 }, { 9216, 1e10 } };

    /// <summary>
    /// Evaluates <paramref name="detections"/> against <paramref name="groundTruth"/>. Throws
    /// <see cref="HpfDetException"/> when a detection names an image the ground truth does not have;
    /// detections of unknown categories are dropped and counted in <see cref="CocoEvalResult.Input"/>.
    /// </summary>
    public static CocoEvalResult Evaluate(CocoGroundTruth groundTruth, CocoDetections detections, CocoEvalOptions? options = null)
    {
        options ??= new CocoEvalOptions();
        var maxDets = options.SortedMaxDets();
        var iouThrs = PyNumerics.Linspace(0.5, 0.95, 10);
        var recThrs = PyNumerics.Linspace(0.0, 1.0, 101);
        int T = iouThrs.Length, R = recThrs.Length, A = AreaRanges.GetLength(0), M = maxDets.Length;

        // Evaluation order: ascending image and category ids.
        var imageIds = groundTruth.Images.Select(i => i.Id).ToArray();
        Array.Sort(imageIds);
        var imageIndex = new Dictionary<long, int>(imageIds.Length);
        for (var i = 0; i < imageIds.Length; i++) imageIndex[imageIds[i]] = i;
        var cats = groundTruth.Categories.OrderBy(c => c.Id).ToArray();
        var catIds = cats.Select(c => c.Id).ToArray();
        var catIndex = new Dictionary<int, int>(cats.Length);
        for (var k = 0; k < cats.Length; k++) catIndex[cats[k].Id] = k;
        int K = cats.Length;

        var gt = Group(groundTruth, imageIndex, catIndex, K);
        var dt = Group(detections, imageIndex, catIndex, K, out var unknownCategory);

        var precision = new double[T, R, K, A, M];
        var recall = new double[T, K, A, M];
        Fill(precision, -1); Fill(recall, -1);
        var npig = new int[K, A];
        var context = new Context(groundTruth, detections, gt, dt, iouThrs, recThrs, maxDets, precision, recall, npig);

        var parallel = new ParallelOptions { MaxDegreeOfParallelism = options.MaxDegreeOfParallelism };
        Parallel.For(0, K, parallel, () => new Workspace(), (k, _, ws) => { EvaluateCategory(context, k, ws); return ws; }, _ => { });

        var stats = Summarize(precision, recall, iouThrs, maxDets, null);
        var perCategory = new CategoryStats[K];
        for (var k = 0; k < K; k++) perCategory[k] = new CategoryStats(catIds[k], cats[k].Name, Summarize(precision, recall, iouThrs, maxDets, k));

        var warnings = new List<string>(groundTruth.Report.Warnings);
        if (unknownCategory > 0)
            warnings.Add($"{unknownCategory} detection(s) with category ids not in the ground truth were dropped.");
        var input = new CocoInputReport(imageIds.Length, K, gt.Order.Length, detections.Count, unknownCategory,
            detections.Count - unknownCategory, groundTruth.Report, warnings);
        var ranges = (double[,])AreaRanges.Clone();
        return new CocoEvalResult
        {
            Stats = stats, PerCategory = perCategory, Precision = precision, Recall = recall, NumNonIgnoredGt = npig,
            IouThresholds = iouThrs, RecallThresholds = recThrs, CategoryIds = catIds, CategoryNames = cats.Select(c => c.Name).ToArray(),
            AreaRanges = ranges, MaxDets = maxDets, Input = input,
        };
    }

    /// <summary>Items grouped by category (CSR over <see cref="CatStart"/>), inside a category by image index then input order.</summary>
    sealed record Grouping(int[] Order, int[] Image, int[] CatStart);

    static Grouping Group(CocoGroundTruth g, Dictionary<long, int> imageIndex, Dictionary<int, int> catIndex, int K)
    {
        var anns = g.Annotations;
        var cat = new int[anns.Count];
        var img = new int[anns.Count];
        for (var i = 0; i < anns.Count; i++) { cat[i] = catIndex[anns[i].CategoryId]; img[i] = imageIndex[anns[i].ImageId]; }
        return Bucket(cat, img, K);
    }

    static Grouping Group(CocoDetections d, Dictionary<long, int> imageIndex, Dictionary<int, int> catIndex, int K, out int unknownCategory)
    {
        var n = d.Count;
        var cat = new int[n];
        var img = new int[n];
        var ids = d.ImageIds; var cids = d.CategoryIds;
        List<long>? unknownImages = null;
        unknownCategory = 0;
        for (var i = 0; i < n; i++)
        {
            if (!imageIndex.TryGetValue(ids[i], out img[i]))
            {
                unknownImages ??= [];
                if (!unknownImages.Contains(ids[i]) && unknownImages.Count <= 20) unknownImages.Add(ids[i]);
                continue;
            }
            if (!catIndex.TryGetValue(cids[i], out cat[i])) { cat[i] = -1; unknownCategory++; }
        }
        if (unknownImages != null)
        {
            var shown = unknownImages.Take(20);
            throw new HpfDetException($"Detections refer to image ids that are not in the ground truth: {string.Join(", ", shown)}{(unknownImages.Count > 20 ? ", ..." : "")}. " +
                "Evaluate results against the ground-truth file they were produced for, or remove those detections.");
        }
        return Bucket(cat, img, K);
    }

    /// <summary>Stable counting sort by category (-1 = dropped), then per category a sort on (image, position).</summary>
    static Grouping Bucket(int[] cat, int[] img, int K)
    {
        var start = new int[K + 1];
        foreach (var c in cat) if (c >= 0) start[c + 1]++;
        for (var k = 0; k < K; k++) start[k + 1] += start[k];
        var order = new int[start[K]];
        var fill = (int[])start.Clone();
        for (var i = 0; i < cat.Length; i++) if (cat[i] >= 0) order[fill[cat[i]]++] = i;
        var keys = new long[order.Length];
        for (var k = 0; k < K; k++)
        {
            int s = start[k], e = start[k + 1];
            for (var j = s; j < e; j++) keys[j] = ((long)img[order[j]] << 32) | (uint)(j - s);
            Array.Sort(keys, s, e - s);
            var chunk = order.AsSpan(s, e - s).ToArray();
            for (var j = s; j < e; j++) order[j] = chunk[(int)(keys[j] & 0xFFFFFFFF)];
        }
        return new Grouping(order, img, start);
    }

    sealed record Context(CocoGroundTruth Gt, CocoDetections Dt, Grouping GtGroups, Grouping DtGroups,
        double[] IouThrs, double[] RecThrs, int[] MaxDets, double[,,,,] Precision, double[,,,] Recall, int[,] Npig);

    /// <summary>Per-thread scratch buffers, grown on demand and reused across categories.</summary>
    sealed class Workspace
    {
        public int[] CellDets = new int[256];
        public double[] CellKeys = new double[256];
        public double[] Iou = new double[1024];
        public double[] GtBox = new double[64];
        public double[] GtArea = new double[16];
        public bool[] GtCrowd = new bool[16];
        public bool[] GtIgnore = new bool[16];
        public int[] GtOrder = new int[16];
        public bool[] GtMatched = new bool[16];
        public double[] DtArea = new double[256];
        public double[] Rc = new double[256];
        public double[] Pr = new double[256];
        public uint[] Seq = new uint[256];

        public static T[] Ensure<T>(ref T[] a, int n)
        {
            if (a.Length < n) a = new T[Math.Max(n, 2 * a.Length)];
            return a;
        }
    }

    static void EvaluateCategory(Context c, int k, Workspace ws)
    {
        int T = c.IouThrs.Length, A = AreaRanges.GetLength(0), M = c.MaxDets.Length, R = c.RecThrs.Length;
        var maxDet = c.MaxDets[^1];
        var anns = c.Gt.Annotations;
        var scores = c.Dt.Scores; var boxes = c.Dt.Boxes;
        int gs = c.GtGroups.CatStart[k], ge = c.GtGroups.CatStart[k + 1];
        int ds = c.DtGroups.CatStart[k], de = c.DtGroups.CatStart[k + 1];
        var gOrder = c.GtGroups.Order; var gImg = c.GtGroups.Image;
        var dOrder = c.DtGroups.Order; var dImg = c.DtGroups.Image;

        for (var j = gs; j < ge; j++)
        {
            var a = anns[gOrder[j]];
            if (a.IsCrowd) continue;
            for (var ai = 0; ai < A; ai++)
                if (!(a.Area < AreaRanges[ai, 0] || a.Area > AreaRanges[ai, 1])) c.Npig[k, ai]++;
        }

        // Kept detections of this category in image order, then score rank; per area range a
        // mask with bit t = TP at threshold t (low 16 bits) or ignored (high 16 bits).
        var cap = de - ds;
        var keptScore = new double[cap];
        var keptRank = new int[cap];
        var keptMask = new uint[A * cap];
        var n = 0;

        int gi = gs, di = ds;
        while (di < de)
        {
            var image = dImg[dOrder[di]];
            var dEnd = di;
            while (dEnd < de && dImg[dOrder[dEnd]] == image) dEnd++;
            while (gi < ge && gImg[gOrder[gi]] < image) gi++;
            var gEnd = gi;
            while (gEnd < ge && gImg[gOrder[gEnd]] == image) gEnd++;

            // Stable sort of the cell's detections by descending score; keep the first maxDet.
            var cellCount = dEnd - di;
            var cell = Workspace.Ensure(ref ws.CellDets, cellCount);
            var keys = Workspace.Ensure(ref ws.CellKeys, cellCount);
            for (var j = 0; j < cellCount; j++) { cell[j] = dOrder[di + j]; keys[j] = -scores[cell[j]]; }
            StableSortByKey(keys.AsSpan(0, cellCount), cell.AsSpan(0, cellCount));
            var D = Math.Min(cellCount, maxDet);
            var G = gEnd - gi;

            var dArea = Workspace.Ensure(ref ws.DtArea, D);
            for (var d = 0; d < D; d++) dArea[d] = boxes[4 * cell[d] + 2] * boxes[4 * cell[d] + 3];

            var gBox = Workspace.Ensure(ref ws.GtBox, 4 * G);
            var gArea = Workspace.Ensure(ref ws.GtArea, G);
            var gCrowd = Workspace.Ensure(ref ws.GtCrowd, G);
            for (var g = 0; g < G; g++)
            {
                var a = anns[gOrder[gi + g]];
                gBox[4 * g] = a.X; gBox[4 * g + 1] = a.Y; gBox[4 * g + 2] = a.W; gBox[4 * g + 3] = a.H;
                gArea[g] = a.Area; gCrowd[g] = a.IsCrowd;
            }
            var iou = Workspace.Ensure(ref ws.Iou, D * G);
            for (var d = 0; d < D; d++)
            {
                var o = 4 * cell[d];
                double dx = boxes[o], dy = boxes[o + 1], dw = boxes[o + 2], dh = boxes[o + 3], da = dw * dh;
                for (var g = 0; g < G; g++)
                    iou[d * G + g] = BoxIou(dx, dy, dw, dh, da, gBox[4 * g], gBox[4 * g + 1], gBox[4 * g + 2], gBox[4 * g + 3], gCrowd[g]);
            }

            var gIgnore = Workspace.Ensure(ref ws.GtIgnore, G);
            var gOrd = Workspace.Ensure(ref ws.GtOrder, G);
            var matched = Workspace.Ensure(ref ws.GtMatched, G);
            for (var ai = 0; ai < A; ai++)
            {
                double lo = AreaRanges[ai, 0], hi = AreaRanges[ai, 1];
                var no = 0;
                for (var g = 0; g < G; g++)
                {
                    gIgnore[g] = gCrowd[g] || gArea[g] < lo || gArea[g] > hi;
                    if (!gIgnore[g]) gOrd[no++] = g;
                }
                for (var g = 0; g < G; g++) if (gIgnore[g]) gOrd[no++] = g;

                var maskBase = ai * cap + n;
                for (var d = 0; d < D; d++) keptMask[maskBase + d] = 0;
                for (var t = 0; t < T; t++)
                {
                    Array.Clear(matched, 0, G);
                    var thr = Math.Min(c.IouThrs[t], 1 - 1e-10);
                    uint tpBit = 1u << t, igBit = 1u << (16 + t);
                    for (var d = 0; d < D; d++)
                    {
                        var best = thr;
                        var m = -1;
                        var row = d * G;
                        for (var oi = 0; oi < G; oi++)
                        {
                            var g = gOrd[oi];
                            if (matched[g] && !gCrowd[g]) continue;
                            if (m > -1 && !gIgnore[m] && gIgnore[g]) break;
                            if (iou[row + g] < best) continue;
                            best = iou[row + g];
                            m = g;
                        }
                        if (m == -1)
                        {
                            if (dArea[d] < lo || dArea[d] > hi) keptMask[maskBase + d] |= igBit;
                            continue;
                        }
                        matched[m] = true;
                        keptMask[maskBase + d] |= gIgnore[m] ? igBit : tpBit;
                    }
                }
            }
            for (var d = 0; d < D; d++) { keptScore[n + d] = scores[cell[d]]; keptRank[n + d] = d; }
            n += D;
            di = dEnd;
        }

        // One descending-score order for the category: ties keep image order, then in-image rank,
        // which is what pycocotools' stable mergesort over the per-image concatenation gives.
        var sorted = new int[n];
        var sortKeys = new double[n];
        for (var j = 0; j < n; j++) { sorted[j] = j; sortKeys[j] = -keptScore[j]; }
        StableSortByKey(sortKeys, sorted);

        var seq = Workspace.Ensure(ref ws.Seq, n);
        var rc = Workspace.Ensure(ref ws.Rc, n);
        var pr = Workspace.Ensure(ref ws.Pr, n);
        for (var ai = 0; ai < A; ai++)
        {
            var np = c.Npig[k, ai];
            if (np == 0) continue;
            for (var mi = 0; mi < M; mi++)
            {
                var md = c.MaxDets[mi];
                var nd = 0;
                for (var j = 0; j < n; j++)
                {
                    var e = sorted[j];
                    if (keptRank[e] < md) seq[nd++] = keptMask[ai * cap + e];
                }
                for (var t = 0; t < T; t++)
                {
                    uint tpBit = 1u << t, igBit = 1u << (16 + t);
                    double tp = 0, fp = 0;
                    for (var j = 0; j < nd; j++)
                    {
                        var mask = seq[j];
                        if ((mask & tpBit) != 0) tp++;
                        else if ((mask & igBit) == 0) fp++;
                        rc[j] = tp / np;
                        pr[j] = tp / (fp + tp + Eps);
                    }
                    c.Recall[t, k, ai, mi] = nd > 0 ? rc[nd - 1] : 0;
                    for (var j = nd - 1; j > 0; j--)
                        if (pr[j] > pr[j - 1]) pr[j - 1] = pr[j];
                    var p = 0;
                    for (var r = 0; r < R; r++)
                    {
                        var thr = c.RecThrs[r];
                        while (p < nd && rc[p] < thr) p++;
                        c.Precision[t, r, k, ai, mi] = p < nd ? pr[p] : 0;
                    }
                }
            }
        }
    }

    /// <summary>pycocotools' bbIou for one pair of [x, y, w, h] boxes (crowd: intersection over detection area).</summary>
    internal static double BoxIou(double dx, double dy, double dw, double dh, double da, double gx, double gy, double gw, double gh, bool crowd)
    {
        var w = Math.Min(dw + dx, gw + gx) - Math.Max(dx, gx);
        if (w <= 0) return 0;
        var h = Math.Min(dh + dy, gh + gy) - Math.Max(dy, gy);
        if (h <= 0) return 0;
        var i = w * h;
        var u = crowd ? da : da + gw * gh - i;
        return i / u;
    }

    /// <summary>Sorts items by ascending key; equal keys keep their input order (numpy's mergesort).</summary>
    internal static void StableSortByKey(Span<double> keys, Span<int> items)
    {
        var n = keys.Length;
        if (n <= 24)
        {
            for (var i = 1; i < n; i++)
            {
                double key = keys[i]; var item = items[i];
                var j = i - 1;
                while (j >= 0 && keys[j] > key) { keys[j + 1] = keys[j]; items[j + 1] = items[j]; j--; }
                keys[j + 1] = key; items[j + 1] = item;
            }
            return;
        }
        // Introsort is not stable: sort, then restore input order within runs of equal keys.
        var positions = new int[n];
        for (var i = 0; i < n; i++) positions[i] = i;
        var originalItems = items.ToArray();
        keys.Sort(positions.AsSpan());
        for (var s = 0; s < n;)
        {
            var e = s + 1;
            while (e < n && keys[e] == keys[s]) e++;
            if (e - s > 1) positions.AsSpan(s, e - s).Sort();
            s = e;
        }
        for (var i = 0; i < n; i++) items[i] = originalItems[positions[i]];
    }

    static double[] Summarize(double[,,,,] precision, double[,,,] recall, double[] iouThrs, int[] maxDets, int? category)
    {
        int MaxDetAt(int i) => i < maxDets.Length ? maxDets[i] : -1;
        return
        [
            SummarizeOne(true, null, 0, 100), SummarizeOne(true, 0.5, 0, MaxDetAt(2)), SummarizeOne(true, 0.75, 0, MaxDetAt(2)),
            SummarizeOne(true, null, 1, MaxDetAt(2)), SummarizeOne(true, null, 2, MaxDetAt(2)), SummarizeOne(true, null, 3, MaxDetAt(2)),
            SummarizeOne(false, null, 0, MaxDetAt(0)), SummarizeOne(false, null, 0, MaxDetAt(1)), SummarizeOne(false, null, 0, MaxDetAt(2)),
            SummarizeOne(false, null, 1, MaxDetAt(2)), SummarizeOne(false, null, 2, MaxDetAt(2)), SummarizeOne(false, null, 3, MaxDetAt(2)),
        ];

        // pycocotools' _summarize: np.mean(s[s > -1]) over the selected slice in C order, -1 if empty.
        double SummarizeOne(bool ap, double? iouThr, int area, int maxDet)
        {
            var values = new List<double>();
            var mi = Array.IndexOf(maxDets, maxDet);
            if (mi < 0) return -1;
            int T = iouThrs.Length, R = precision.GetLength(1), K = precision.GetLength(2);
            int k0 = category ?? 0, k1 = category.HasValue ? category.Value + 1 : K;
            for (var t = 0; t < T; t++)
            {
                if (iouThr.HasValue && iouThrs[t] != iouThr.Value) continue;
                if (ap)
                {
                    for (var r = 0; r < R; r++)
                        for (var k = k0; k < k1; k++)
                        {
                            var v = precision[t, r, k, area, mi];
                            if (v > -1) values.Add(v);
                        }
                }
                else
                {
                    for (var k = k0; k < k1; k++)
                    {
                        var v = recall[t, k, area, mi];
                        if (v > -1) values.Add(v);
                    }
                }
            }
            return PyNumerics.MeanOfDefined(values);
        }
    }

    static void Fill(Array a, double v)
    {
        var span = System.Runtime.InteropServices.MemoryMarshal.CreateSpan(
            ref System.Runtime.CompilerServices.Unsafe.As<byte, double>(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(a)), a.Length);
        span.Fill(v);
    }
}
