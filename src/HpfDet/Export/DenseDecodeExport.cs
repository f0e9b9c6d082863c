using HpfDet.Boxes;
using TorchSharp;

namespace HpfDet.Export;

/// <summary>How a dense detector's score factor enters its detections' scores (metadata "hpfdet.score_factor").</summary>
public enum DenseScoreFactor
{
    /// <summary>No score factor: candidates are selected by class score, which is the detection score (RetinaNet). Metadata "none".</summary>
    None,
    /// <summary>Candidates are selected (threshold, top-k) by class score; the detection score is class score × factor (ATSS). Metadata "multiply".</summary>
    Multiply,
    /// <summary>The candidate score is sqrt(class score × factor): it selects the candidates and is the detection score (FCOS). Metadata "geometric_mean".</summary>
    GeometricMean,
}

/// <summary>The decoded outputs of a dense detector: boxes [B, N, 4] in input pixels, class scores [B, N, C], score factors [B, N] or null.</summary>
/// <param name="AnchorCount">N: a size for a fixed input, the symbolic name "anchors" for a dynamic one.</param>
/// <param name="Strides">The levels' strides, which the inference library needs to split the N priors into levels.</param>
/// <param name="PriorsPerLocation">Priors per feature location A.</param>
/// <param name="FactorUse">How the score factors combine with the class scores (<see cref="DenseScoreFactor.None"/> exactly when there are none).</param>
public sealed record DenseDecodeValues(string Boxes, string Scores, string? ScoreFactors, object AnchorCount, int[] Strides, int PriorsPerLocation,
    DenseScoreFactor FactorUse = DenseScoreFactor.Multiply);

/// <summary>A box coder as a subgraph: priors [N, 4] and regression [B, N, 4] → boxes [B, N, 4] in input pixels.</summary>
public delegate string OnnxBoxDecode(OnnxExportContext context, string priors, string regression);

/// <summary>
/// The box decoding of a dense detector as a subgraph: per-level head maps flattened level-major
/// (y, x, anchor, as the priors are ordered), sigmoid class scores and score factors, the priors of
/// an <see cref="AnchorGenerator"/> (constants for a fixed input size, or computed from each level's
/// shape), and the detector's box coder (<see cref="DeltaXYWH"/>, <see cref="Linear"/>). Boxes are not
/// clipped: the image's content size is known only to the caller, which clips.
/// </summary>
public static class DenseDecodeExport
{
    /// <summary>The decoding with <see cref="DeltaXYWHBoxCoder"/> and the score factor multiplied into the selected scores (ATSS).</summary>
    public static DenseDecodeValues Export(OnnxExportContext ctx, IReadOnlyList<string> classLogits, IReadOnlyList<string> boxDeltas,
        IReadOnlyList<string>? scoreFactorLogits, int numClasses, AnchorGenerator anchors, DeltaXYWHBoxCoder coder,
        IReadOnlyList<(int H, int W)>? fixedLevelSizes) =>
        Export(ctx, classLogits, boxDeltas, scoreFactorLogits, scoreFactorLogits is null ? DenseScoreFactor.None : DenseScoreFactor.Multiply,
            numClasses, anchors, (c, p, r) => DeltaXYWH(c, coder, p, r), fixedLevelSizes);

    /// <param name="classLogits">Per level [B, A·C, H, W].</param>
    /// <param name="boxRegression">Per level [B, A·4, H, W], what <paramref name="decode"/> reads.</param>
    /// <param name="scoreFactorLogits">Per level [B, A, H, W] logits of a score factor (ATSS/FCOS centerness), or null.</param>
    /// <param name="factorUse">How the factor combines with the class scores (stored in the metadata; None when there is no factor).</param>
    /// <param name="priors">The generator of the detector's priors (anchors; FCOS's point boxes).</param>
    /// <param name="decode">The detector's box coder.</param>
    /// <param name="fixedLevelSizes">(H, W) of each level for a fixed input size: the priors become constants; null computes them from the maps' shapes.</param>
    public static DenseDecodeValues Export(OnnxExportContext ctx, IReadOnlyList<string> classLogits, IReadOnlyList<string> boxRegression,
        IReadOnlyList<string>? scoreFactorLogits, DenseScoreFactor factorUse, int numClasses, AnchorGenerator priors, OnnxBoxDecode decode,
        IReadOnlyList<(int H, int W)>? fixedLevelSizes)
    {
        if ((scoreFactorLogits is null) != (factorUse == DenseScoreFactor.None))
            throw new ArgumentException($"ONNX export: score factor use {factorUse} with {(scoreFactorLogits is null ? "no" : "a")} score factor output.", nameof(factorUse));
        var g = ctx.Graph;
        var scores = g.Op("Sigmoid", "scores.sigmoid", [Flatten(ctx, classLogits, "cls", numClasses)]);
        var regression = Flatten(ctx, boxRegression, "deltas", 4);
        string? factors = null;
        if (scoreFactorLogits is not null)
        {
            var flat = Flatten(ctx, scoreFactorLogits, "factor", 1);
            factors = g.Op("Sigmoid", "score_factors.sigmoid", [g.Op("Reshape", "factor.flat", [flat, g.Int64Vector("batch_anchors_shape", 0, -1)])]);
        }
        string priorBoxes;
        object count;
        if (fixedLevelSizes is not null)
        {
            using var scope = torch.NewDisposeScope();
            var grid = torch.cat(priors.GridAnchors(fixedLevelSizes, torch.CPU).ToArray(), 0);
            count = grid.shape[0];
            priorBoxes = g.Floats("anchors", OnnxExportContext.Values(grid), grid.shape[0], 4);
        }
        else
        {
            priorBoxes = DynamicAnchors(ctx, priors, classLogits);
            count = "anchors";
        }
        var boxes = decode(ctx, priorBoxes, regression);
        return new DenseDecodeValues(boxes, scores, factors, count, priors.Options.Strides.ToArray(), priors.NumAnchorsPerLocation, factorUse);
    }

    /// <summary>[B, A·K, H, W] per level → [B, ΣH·W·A, K].</summary>
    static string Flatten(OnnxExportContext ctx, IReadOnlyList<string> levels, string name, int k)
    {
        var g = ctx.Graph;
        var shape = g.Int64Vector($"{name}_flat_shape", 0, -1, k);
        var flat = levels.Select((v, l) => g.Op("Reshape", $"{name}{l}.flat",
            [g.Op("Transpose", $"{name}{l}.nhwc", [v], ("perm", new long[] { 0, 2, 3, 1 })), shape])).ToList();
        return flat.Count == 1 ? flat[0] : g.Op("Concat", $"{name}.all", flat, ("axis", 1L));
    }

    /// <summary>
    /// The priors of every level from its map's height and width, as <see cref="AnchorGenerator"/>
    /// places them: centre ((x + offset)·s, (y + offset)·s) plus each base anchor, y outer, x inner,
    /// anchors innermost; summed in float64, then float32, as the generator does.
    /// </summary>
    static string DynamicAnchors(OnnxExportContext ctx, AnchorGenerator generator, IReadOnlyList<string> levelMaps)
    {
        var g = ctx.Graph;
        int a = generator.NumAnchorsPerLocation;
        var strides = generator.Options.Strides;
        double offset = generator.Options.CenterOffset;
        // Base anchors relative to the centre: the generator's anchors of a 1×1 map minus that cell's centre.
        var unit = generator.GridAnchors(strides.Select(_ => (1, 1)).ToArray(), torch.CPU);
        var zero = g.Int64s("zero", [0]);
        var one = g.Int64s("one", [1]);
        var axis0 = g.Int64Vector("axes0", 0);
        var axis1 = g.Int64Vector("axes1", 1);
        var levels = new List<string>();
        for (int l = 0; l < levelMaps.Count; l++)
        {
            double s = strides[l];
            var cell = OnnxExportContext.Values(unit[l]).Select(v => (double)v).ToArray();
            var baseAnchors = new double[cell.Length];
            for (int i = 0; i < cell.Length; i++) baseAnchors[i] = cell[i] - offset * s;
            var shape = g.Op("Shape", $"anchors{l}.map_shape", [levelMaps[l]]);
            var h = g.Op("Gather", $"anchors{l}.h", [shape, g.Int64s($"index2_{l}", [2])], ("axis", 0L));
            var w = g.Op("Gather", $"anchors{l}.w", [shape, g.Int64s($"index3_{l}", [3])], ("axis", 0L));
            var hw = g.Op("Concat", $"anchors{l}.hw", [g.Op("Unsqueeze", $"anchors{l}.h1", [h, axis0]), g.Op("Unsqueeze", $"anchors{l}.w1", [w, axis0])], ("axis", 0L));
            var offsetValue = g.Doubles($"anchors{l}.offset", [offset]);
            var strideValue = g.Doubles($"anchors{l}.stride", [s]);
            string Shift(string n, string size) => g.Op("Mul", $"anchors{l}.shift_{n}",
                [g.Op("Add", $"anchors{l}.{n}_offset", [g.Op("Cast", $"anchors{l}.{n}_f64", [g.Op("Range", $"anchors{l}.{n}_range", [zero, size, one])], ("to", 11L)), offsetValue]), strideValue]);
            var flatShape = g.Int64Vector($"anchors{l}.column", -1, 1);
            var xx = g.Op("Reshape", $"anchors{l}.xx", [g.Op("Expand", $"anchors{l}.xx_grid", [g.Op("Unsqueeze", $"anchors{l}.x_row", [Shift("x", w), axis0]), hw]), flatShape]);
            var yy = g.Op("Reshape", $"anchors{l}.yy", [g.Op("Expand", $"anchors{l}.yy_grid", [g.Op("Unsqueeze", $"anchors{l}.y_col", [Shift("y", h), axis1]), hw]), flatShape]);
            var shifts = g.Op("Concat", $"anchors{l}.shifts", [xx, yy, xx, yy], ("axis", 1L));                       // [HW, 4]
            var baseValue = g.Doubles($"anchors{l}.base", baseAnchors, 1, a, 4);
            var summed = g.Op("Add", $"anchors{l}.sum", [g.Op("Unsqueeze", $"anchors{l}.shifts3", [shifts, axis1]), baseValue]);   // [HW, A, 4]
            levels.Add(g.Op("Cast", $"anchors{l}", [g.Op("Reshape", $"anchors{l}.f64", [summed, g.Int64Vector($"anchors{l}.shape", -1, 4)])], ("to", 1L)));
        }
        foreach (var t in unit) t.Dispose();
        return levels.Count == 1 ? levels[0] : g.Op("Concat", "anchors", levels, ("axis", 0L));
    }

    /// <summary>
    /// <see cref="DeltaXYWHBoxCoder.Decode"/> on priors [N, 4] and deltas [B, N, 4] with the same float32
    /// operations in the same order: d·std + mean, log-ratios clamped (from above only without
    /// <see cref="DeltaXYWHBoxCoderOptions.ClampBelow"/>, as torchvision's coder), centre and size, corners.
    /// </summary>
    public static string DeltaXYWH(OnnxExportContext ctx, DeltaXYWHBoxCoder coder, string priors, string deltas)
    {
        var g = ctx.Graph;
        var o = coder.Options;
        var d = g.Op("Add", "decode.d", [g.Op("Mul", "decode.d_std", [deltas, g.Floats("decode.stds", o.Stds.Select(v => (float)v).ToArray(), 4)]),
            g.Floats("decode.means", o.Means.Select(v => (float)v).ToArray(), 4)]);
        string Column(string source, string name, int i, string axis) =>
            g.Op("Slice", $"decode.{name}", [source, g.Int64Vector($"decode.{name}_start", i), g.Int64Vector($"decode.{name}_end", i + 1), axis]);
        var priorAxis = g.Int64Vector("decode.prior_axis", 1);
        var deltaAxis = g.Int64Vector("decode.delta_axis", 2);
        var (x1, y1, x2, y2) = (Column(priors, "ax1", 0, priorAxis), Column(priors, "ay1", 1, priorAxis), Column(priors, "ax2", 2, priorAxis), Column(priors, "ay2", 3, priorAxis));
        var half = g.Floats("decode.half", [0.5f]);
        var ax = g.Op("Mul", "decode.ax", [g.Op("Add", "decode.ax_sum", [x1, x2]), half]);
        var ay = g.Op("Mul", "decode.ay", [g.Op("Add", "decode.ay_sum", [y1, y2]), half]);
        var aw = g.Op("Sub", "decode.aw", [x2, x1]);
        var ah = g.Op("Sub", "decode.ah", [y2, y1]);
        double maxRatio = Math.Abs(Math.Log(o.WhRatioClip));
        var lo = o.ClampBelow ? g.Floats("decode.min_log_ratio", [(float)-maxRatio]) : "";   // an omitted Clip bound: no lower clamp
        var hi = g.Floats("decode.max_log_ratio", [(float)maxRatio]);
        var dx = Column(d, "dx", 0, deltaAxis);
        var dy = Column(d, "dy", 1, deltaAxis);
        var dw = g.Op("Clip", "decode.dw_clamped", [Column(d, "dw", 2, deltaAxis), lo, hi]);
        var dh = g.Op("Clip", "decode.dh_clamped", [Column(d, "dh", 3, deltaAxis), lo, hi]);
        var cx = g.Op("Add", "decode.cx", [ax, g.Op("Mul", "decode.aw_dx", [aw, dx])]);
        var cy = g.Op("Add", "decode.cy", [ay, g.Op("Mul", "decode.ah_dy", [ah, dy])]);
        var w = g.Op("Mul", "decode.w", [aw, g.Op("Exp", "decode.exp_dw", [dw])]);
        var h = g.Op("Mul", "decode.h", [ah, g.Op("Exp", "decode.exp_dh", [dh])]);
        var halfW = g.Op("Mul", "decode.half_w", [w, half]);
        var halfH = g.Op("Mul", "decode.half_h", [h, half]);
        return g.Op("Concat", "decode.boxes", [
            g.Op("Sub", "decode.x1", [cx, halfW]), g.Op("Sub", "decode.y1", [cy, halfH]),
            g.Op("Add", "decode.x2", [cx, halfW]), g.Op("Add", "decode.y2", [cy, halfH])], ("axis", 2L));
    }

    /// <summary>
    /// <see cref="LinearBoxCoder.Decode"/> on priors [N, 4] and codes (l, t, r, b) [B, N, 4] with the same
    /// float32 operations in the same order: prior centre (x1 + x2)·0.5, codes times the prior's
    /// (w, h, w, h) when it normalises by size, then centre − (l, t) and centre + (r, b).
    /// </summary>
    public static string Linear(OnnxExportContext ctx, LinearBoxCoder coder, string priors, string codes)
    {
        var g = ctx.Graph;
        string Column(string source, string name, int i, string axis) =>
            g.Op("Slice", $"decode.{name}", [source, g.Int64Vector($"decode.{name}_start", i), g.Int64Vector($"decode.{name}_end", i + 1), axis]);
        var priorAxis = g.Int64Vector("decode.prior_axis", 1);
        var codeAxis = g.Int64Vector("decode.code_axis", 2);
        var (x1, y1, x2, y2) = (Column(priors, "px1", 0, priorAxis), Column(priors, "py1", 1, priorAxis), Column(priors, "px2", 2, priorAxis), Column(priors, "py2", 3, priorAxis));
        var half = g.Floats("decode.half", [0.5f]);
        var cx = g.Op("Mul", "decode.cx", [g.Op("Add", "decode.cx_sum", [x1, x2]), half]);
        var cy = g.Op("Mul", "decode.cy", [g.Op("Add", "decode.cy_sum", [y1, y2]), half]);
        if (coder.NormalizeBySize)
        {
            var w = g.Op("Sub", "decode.pw", [x2, x1]);
            var h = g.Op("Sub", "decode.ph", [y2, y1]);
            codes = g.Op("Mul", "decode.scaled_codes", [codes, g.Op("Concat", "decode.sizes", [w, h, w, h], ("axis", 1L))]);
        }
        return g.Op("Concat", "decode.boxes", [
            g.Op("Sub", "decode.x1", [cx, Column(codes, "l", 0, codeAxis)]), g.Op("Sub", "decode.y1", [cy, Column(codes, "t", 1, codeAxis)]),
            g.Op("Add", "decode.x2", [cx, Column(codes, "r", 2, codeAxis)]), g.Op("Add", "decode.y2", [cy, Column(codes, "b", 3, codeAxis)])], ("axis", 2L));
    }
}
