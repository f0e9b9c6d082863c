using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Assigners;

/// <summary>Options of <see cref="FoveaAssigner"/> (mmdetection 2.x's fovea_r50_fpn_4x4_1x values).</summary>
/// <param name="Strides">Stride of each level (8 … 128).</param>
/// <param name="ScaleRanges">Per level the closed range [lower, upper] of sqrt(w·h) of the boxes it learns; the ranges overlap, so a box may belong to two levels.</param>
/// <param name="Sigma">Shrink factor σ of the fovea: the positive cells are those whose centre lies within σ·half the box's width and height of its centre.</param>
public sealed record FoveaAssignerOptions(int[]? Strides = null, (double Lower, double Upper)[]? ScaleRanges = null, double Sigma = 0.4)
{
    /// <summary>The strides, (8, 16, 32, 64, 128) when unset.</summary>
    public int[] LevelStrides => Strides ?? [8, 16, 32, 64, 128];

    /// <summary>The scale ranges, ((1, 64), (32, 128), (64, 256), (128, 512), (256, 2048)) when unset.</summary>
    public (double Lower, double Upper)[] LevelScaleRanges => ScaleRanges ?? [(1, 64), (32, 128), (64, 256), (128, 512), (256, 2048)];
}

/// <summary>
/// FoveaBox's target assignment (Kong et al. 2020) as mmdetection 2.x's <c>FoveaHead._get_target_single</c>:
/// on each level, every box whose sqrt(w·h) lies in the level's scale range marks its fovea as positive: in
/// feature cells (box / stride, cell i centred at i + 0.5), columns ceil(x1 + (1 − σ)·w/2 − 0.5) to
/// floor(x1 + (1 + σ)·w/2 − 0.5), rows likewise, each bound clamped into the map. Boxes are written largest
/// first, so where foveae overlap the smaller box (on equal sizes: the later box) keeps the cell.
/// The region arithmetic runs in float32 in the reference's order of operations, so cells whose centre lies
/// exactly on a fovea edge round as there.
/// </summary>
public sealed class FoveaAssigner
{
    public FoveaAssigner(FoveaAssignerOptions? options = null)
    {
        Options = options ?? new FoveaAssignerOptions();
        if (Options.LevelStrides.Length != Options.LevelScaleRanges.Length)
            throw new ArgumentException($"FoveaAssigner: {Options.LevelStrides.Length} strides but {Options.LevelScaleRanges.Length} scale ranges; give one range per level.", nameof(options));
        if (Options.LevelStrides.Any(s => s <= 0))
            throw new ArgumentException("FoveaAssigner: every stride must be positive.", nameof(options));
        if (!(Options.Sigma is > 0 and <= 1))
            throw new ArgumentOutOfRangeException(nameof(options), $"FoveaAssigner: sigma must be in (0, 1], got {Options.Sigma}.");
    }

    public FoveaAssignerOptions Options { get; }

    public int NumLevels => Options.LevelStrides.Length;

    /// <summary>Assigns one image's boxes to the cells of every level.</summary>
    /// <param name="featureSizes">(H_l, W_l) per level.</param>
    /// <param name="gtBoxes">[G, 4] boxes (x1, y1, x2, y2) in input pixels.</param>
    /// <returns>[Σ_l H_l·W_l] int64 in level, row, column order: the index of the box that keeps the cell, −1 for background.</returns>
    public Tensor Assign(IReadOnlyList<(int H, int W)> featureSizes, Tensor gtBoxes)
    {
        if (featureSizes.Count != NumLevels)
            throw new ArgumentException($"FoveaAssigner: {featureSizes.Count} feature sizes for {NumLevels} levels.", nameof(featureSizes));
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var device = gtBoxes.device;
        long g = gtBoxes.shape[0];
        if (g == 0)
            return full(featureSizes.Sum(s => (long)s.H * s.W), ScalarConstants.MinusOne, dtype: ScalarType.Int64, device: device).MoveToOuterDisposeScope();

        var boxes = gtBoxes.to(float32);
        var scales = boxes.select(1, 2).sub(boxes.select(1, 0)).mul(boxes.select(1, 3).sub(boxes.select(1, 1))).sqrt();   // [G]
        var writeOrder = WriteOrder(scales);                                                                          // [G]
        using var shrink = (1 - Options.Sigma).ToScalar();
        using var grow = (1 + Options.Sigma).ToScalar();
        using var half = 0.5.ToScalar();
        var perLevel = new Tensor[NumLevels];
        for (int l = 0; l < NumLevels; l++)
        {
            var (h, w) = featureSizes[l];
            var (lower, upper) = Options.LevelScaleRanges[l];
            using var lowerScalar = lower.ToScalar();
            using var upperScalar = upper.ToScalar();
            using var stride = Options.LevelStrides[l].ToScalar();
            using var lastColumn = (w - 1).ToScalar();
            using var lastRow = (h - 1).ToScalar();
            var hit = scales.ge(lowerScalar).logical_and(scales.le(upperScalar));                                   // [G]
            var cells = boxes.div(stride);
            var (x1, y1) = (cells.select(1, 0), cells.select(1, 1));
            var halfW = cells.select(1, 2).sub(x1).mul(half);
            var halfH = cells.select(1, 3).sub(y1).mul(half);
            var left = x1.add(halfW.mul(shrink), ScalarConstants.One).sub(half).ceil().to(ScalarType.Int64).clamp(ScalarConstants.Zero, lastColumn);
            var right = x1.add(halfW.mul(grow), ScalarConstants.One).sub(half).floor().to(ScalarType.Int64).clamp(ScalarConstants.Zero, lastColumn);
            var top = y1.add(halfH.mul(shrink), ScalarConstants.One).sub(half).ceil().to(ScalarType.Int64).clamp(ScalarConstants.Zero, lastRow);
            var bottom = y1.add(halfH.mul(grow), ScalarConstants.One).sub(half).floor().to(ScalarType.Int64).clamp(ScalarConstants.Zero, lastRow);
            var columns = ScalarFreeFactories.Arange(w, ScalarType.Int64, device).unsqueeze(1);                     // [W, 1]
            var rows = ScalarFreeFactories.Arange(h, ScalarType.Int64, device).unsqueeze(1);                        // [H, 1]
            var inColumns = columns.ge(left.unsqueeze(0)).logical_and(columns.le(right.unsqueeze(0)));              // [W, G]
            var inRows = rows.ge(top.unsqueeze(0)).logical_and(rows.le(bottom.unsqueeze(0)));                       // [H, G]
            var covered = inRows.unsqueeze(1).logical_and(inColumns.unsqueeze(0)).logical_and(hit.view(1, 1, g)).reshape(h * w, g);
            // The box written last keeps the cell: the highest write position + 1 among the covering boxes, 0 for none.
            var (last, index) = covered.to(ScalarType.Int64).mul(writeOrder.add(ScalarConstants.One, ScalarConstants.One).unsqueeze(0)).max(1);
            perLevel[l] = index.masked_fill(last.eq(ScalarConstants.Zero), ScalarConstants.MinusOne);
        }
        return cat(perLevel, 0).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Each box's position when the boxes are written by decreasing sqrt(w·h), equal sizes in index order
    /// (a stable sort): the number of larger boxes plus the number of equal ones before it.
    /// </summary>
    /// <param name="scales">[G] sqrt(w·h).</param>
    /// <returns>[G] int64 positions 0 … G − 1.</returns>
    public static Tensor WriteOrder(Tensor scales)
    {
        using var scope = NewDisposeScope();
        long g = scales.shape[0];
        var other = scales.unsqueeze(0);                                                                           // [1, G] box j
        var self = scales.unsqueeze(1);                                                                            // [G, 1] box i
        var index = ScalarFreeFactories.Arange(g, ScalarType.Int64, scales.device);
        var earlierIndex = index.unsqueeze(0).lt(index.unsqueeze(1));                                              // [i, j]: j < i
        var before = other.gt(self).logical_or(other.eq(self).logical_and(earlierIndex));
        return before.sum(1, type: ScalarType.Int64).MoveToOuterDisposeScope();
    }
}
