using HpfDet.Boxes;
using TorchSharp;

namespace HpfDet.Export;

/// <summary>The decoded outputs of a dense detector: boxes [B, N, 4] in input pixels, class scores [B, N, C], score factors [B, N] or null.</summary>
/// <param name="AnchorCount">N: a size for a fixed input, the symbolic name "anchors" for a dynamic one.</param>
/// <param name="Strides">The levels' strides, which the inference library needs to split the N priors into levels.</param>
/// <param name="PriorsPerLocation">Priors per feature location A.</param>
public sealed record DenseDecodeValues(string Boxes, string Scores, string? ScoreFactors, object AnchorCount, int[] Strides, int PriorsPerLocation);

/// <summary>
/// The box decoding of a dense detector as a subgraph: per-level head maps flattened level-major
/// (y, x, anchor, as the priors are ordered), sigmoid class scores, the priors of
/// <see cref="AnchorGenerator"/> (constants for a fixed input size, or computed from each level's
/// shape), and <see cref="DeltaXYWHBoxCoder"/>'s decoding. Boxes are not clipped: the image's content
/// size is known only to the caller, which clips.
/// </summary>
public static class DenseDecodeExport
{
    /// <param name="classLogits">Per level [B, A·C, H, W].</param>
    /// <param name="boxDeltas">Per level [B, A·4, H, W].</param>
    /// <param name="scoreFactorLogits">Per level [B, A, H, W] logits of a score factor (ATSS/FCOS centerness), or null.</param>
    /// <param name="fixedLevelSizes">(H, W) of each level for a fixed input size: the priors become constants; null computes them from the maps' shapes.</param>
    public static DenseDecodeValues Export(OnnxExportContext ctx, IReadOnlyList<string> classLogits, IReadOnlyList<string> boxDeltas,
        IReadOnlyList<string>? scoreFactorLogits, int numClasses, AnchorGenerator anchors, DeltaXYWHBoxCoder coder,
        IReadOnlyList<(int H, int W)>? fixedLevelSizes)
    {
        var g = ctx.Graph;
        var scores = g.Op("Sigmoid", "scores.sigmoid", [Flatten(ctx, classLogits, "cls", numClasses)]);
        var deltas = Flatten(ctx, boxDeltas, "deltas", 4);
        string? factors = null;
        if (scoreFactorLogits is not null)
        {
            var flat = Flatten(ctx, scoreFactorLogits, "factor", 1);
            factors = g.Op("Sigmoid", "score_factors.sigmoid", [g.Op("Reshape", "factor.flat", [flat, g.Int64Vector("batch_anchors_shape", 0, -1)])]);
        }
        string priors;
        object count;
        if (fixedLevelSizes is not null)
        {
            using var scope = torch.NewDisposeScope();
            var grid = torch.cat(anchors.GridAnchors(fixedLevelSizes, torch.CPU).ToArray(), 0);
            count = grid.shape[0];
            priors = g.Floats("anchors", OnnxExportContext.Values(grid), grid.shape[0], 4);
        }
        else
        {
            priors = DynamicAnchors(ctx, anchors, classLogits);
            count = "anchors";
        }
        var boxes = Decode(ctx, coder, priors, deltas);
        return new DenseDecodeValues(boxes, scores, factors, count, anchors.Options.Strides.ToArray(), anchors.NumAnchorsPerLocation);
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
    /// operations in the same order: d·std + mean, log-ratios clamped, centre and size, corners.
    /// </summary>
    static string Decode(OnnxExportContext ctx, DeltaXYWHBoxCoder coder, string priors, string deltas)
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
        var lo = g.Floats("decode.min_log_ratio", [(float)-maxRatio]);
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
}
