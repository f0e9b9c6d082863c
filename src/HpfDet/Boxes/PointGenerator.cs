using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Boxes;

/// <summary>Options of <see cref="PointGenerator"/>.</summary>
public sealed record PointGeneratorOptions
{
    /// <param name="Strides">Stride of each feature level in pixels; null means (8, 16, 32, 64, 128).</param>
    /// <param name="Offset">Point = ((x + Offset) × stride, (y + Offset) × stride); 0.5 puts it at the cell centre.</param>
    public PointGeneratorOptions(int[]? Strides = null, double Offset = 0.5)
    {
        this.Strides = Strides ?? [8, 16, 32, 64, 128];
        this.Offset = Offset;
    }

    public int[] Strides { get; init; }
    public double Offset { get; init; }
}

/// <summary>
/// One point per feature location for anchor-free (FCOS-like) heads (mmdetection's MlvlPointGenerator):
/// at stride s, location (x, y) maps to ((x + offset) s, (y + offset) s).
/// </summary>
public sealed class PointGenerator
{
    public PointGenerator(PointGeneratorOptions? options = null)
    {
        Options = options ?? new PointGeneratorOptions();
        if (Options.Strides.Length == 0 || Options.Strides.Any(s => s <= 0))
        {
            throw new HpfDetException("PointGeneratorOptions.Strides: give at least one stride, each > 0 (e.g. 8, 16, 32, 64, 128).");
        }
    }

    public PointGeneratorOptions Options { get; }

    public int NumLevels => Options.Strides.Length;

    /// <summary>
    /// Points of every level. featureSizes[l] = (H_l, W_l) → per level [H_l·W_l, 2] float32 (x, y),
    /// ordered y outer, x inner.
    /// </summary>
    public IReadOnlyList<Tensor> GridPoints(IReadOnlyList<(int H, int W)> featureSizes, Device device)
    {
        if (featureSizes.Count != Options.Strides.Length)
        {
            throw new ArgumentException(
                $"Got {featureSizes.Count} feature sizes but the point generator has {Options.Strides.Length} strides; give one (H, W) per level.");
        }
        var result = new List<Tensor>(featureSizes.Count);
        for (var l = 0; l < featureSizes.Count; l++)
        {
            using var scope = NewDisposeScope();
            var (h, w) = featureSizes[l];
            var s = Options.Strides[l];
            using var offset = Options.Offset.ToScalar();
            using var step = s.ToScalar();
            var px = ScalarFreeFactories.Arange(w, float64, device).add(offset, ScalarConstants.One).mul(step);
            var py = ScalarFreeFactories.Arange(h, float64, device).add(offset, ScalarConstants.One).mul(step);
            var xx = px.unsqueeze(0).expand(h, w).reshape(-1);
            var yy = py.unsqueeze(1).expand(h, w).reshape(-1);
            result.Add(stack(new[] { xx, yy }, 1).to(float32).MoveToOuterDisposeScope());
        }
        return result;
    }

    /// <summary>Stride of each point, matching <see cref="GridPoints"/>: per level [H_l·W_l] float32 filled with the stride.</summary>
    public IReadOnlyList<Tensor> GridStrides(IReadOnlyList<(int H, int W)> featureSizes, Device device)
    {
        var result = new List<Tensor>(featureSizes.Count);
        for (var l = 0; l < featureSizes.Count; l++)
        {
            var (h, w) = featureSizes[l];
            using var stride = ((double)Options.Strides[l]).ToScalar();
            result.Add(full(h * w, stride, dtype: float32, device: device));
        }
        return result;
    }
}
