using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Boxes;

/// <summary>
/// Boxes as the distances (l, t, r, b) from a prior's centre to the four sides, in units of the prior's
/// level stride, each predicted as a discrete distribution over 0, 1, …, <see cref="RegMax"/> (GFL's
/// general distribution): the distance is its expectation Σ_i softmax(logits)_i · i (the Integral).
/// Box-regression rows hold 4·(RegMax + 1) logits, side-major: (l₀…l_R, t₀…t_R, r₀…r_R, b₀…b_R).
/// </summary>
public sealed class DistanceDistributionCoder
{
    /// <summary>The largest distance (in strides) the distribution can express (GFL: 16).</summary>
    public int RegMax { get; }

    /// <summary>Encoded distances are clamped to [0, RegMax - ClampEps], so that the upper of the two bins around a target exists (GFL: 0.1).</summary>
    public double ClampEps { get; }

    /// <summary>Logits per prior: 4·(RegMax + 1).</summary>
    public int ValuesPerPrior => 4 * (RegMax + 1);

    /// <param name="regMax">The largest bin, at least 1.</param>
    /// <param name="clampEps">Margin below RegMax of the encoded distances, in (0, 1].</param>
    public DistanceDistributionCoder(int regMax = 16, double clampEps = 0.1)
    {
        if (regMax < 1) throw new ArgumentOutOfRangeException(nameof(regMax), $"RegMax must be >= 1, got {regMax}.");
        if (!(clampEps > 0 && clampEps <= 1)) throw new ArgumentOutOfRangeException(nameof(clampEps), $"ClampEps must be in (0, 1], got {clampEps}.");
        RegMax = regMax;
        ClampEps = clampEps;
    }

    /// <summary>Box centres ((x1 + x2)/2, (y1 + y2)/2) of [..., 4] boxes → [..., 2].</summary>
    public static Tensor Centres(Tensor boxes)
    {
        using var scope = NewDisposeScope();
        var cx = boxes.select(-1, 0).add(boxes.select(-1, 2), ScalarConstants.One).mul(ScalarConstants.HalfDouble);
        var cy = boxes.select(-1, 1).add(boxes.select(-1, 3), ScalarConstants.One).mul(ScalarConstants.HalfDouble);
        return stack([cx, cy], -1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The expected distance of each side: logits [..., 4·(RegMax+1)] → [..., 4], softmax over each
    /// side's RegMax + 1 bins times the bin values 0 … RegMax.
    /// </summary>
    public Tensor Integral(Tensor logits)
    {
        if (logits.shape[^1] != ValuesPerPrior)
            throw new ArgumentException($"DistanceDistributionCoder: logits have {logits.shape[^1]} values per prior; expected 4·(RegMax + 1) = {ValuesPerPrior}.", nameof(logits));
        using var scope = NewDisposeScope();
        long[] sides = [.. logits.shape[..^1], 4, RegMax + 1];
        var probabilities = nn.functional.softmax(logits.reshape(sides), -1);
        var bins = ScalarFreeFactories.Arange(RegMax + 1, logits.dtype, logits.device);
        return probabilities.matmul(bins).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Distances (l, t, r, b) of <paramref name="boxes"/> [K, 4] from <paramref name="centres"/> [K, 2],
    /// divided by <paramref name="strides"/> [K] (null: already in strides) and clamped to [0, RegMax - ClampEps] → [K, 4].
    /// </summary>
    public Tensor Encode(Tensor centres, Tensor boxes, Tensor? strides = null)
    {
        using var scope = NewDisposeScope();
        centres = centres.to(boxes.dtype);
        var (cx, cy) = (centres.select(-1, 0), centres.select(-1, 1));
        var distances = stack([cx.sub(boxes.select(-1, 0)), cy.sub(boxes.select(-1, 1)), boxes.select(-1, 2).sub(cx), boxes.select(-1, 3).sub(cy)], -1);
        if (strides is not null) distances = distances.div(strides.to(boxes.dtype).unsqueeze(-1));
        using var upper = (RegMax - ClampEps).ToScalar();
        return distances.clamp(ScalarConstants.ZeroDouble, upper).MoveToOuterDisposeScope();
    }

    /// <summary>Boxes from centres [K, 2] and distances [K, 4] times strides [K] (null: 1) → [K, 4] in the centres' units.</summary>
    public static Tensor DecodeDistances(Tensor centres, Tensor distances, Tensor? strides = null)
    {
        using var scope = NewDisposeScope();
        var d = strides is null ? distances : distances.mul(strides.to(distances.dtype).unsqueeze(-1));
        centres = centres.to(distances.dtype);
        var (cx, cy) = (centres.select(-1, 0), centres.select(-1, 1));
        return stack([cx.sub(d.select(-1, 0)), cy.sub(d.select(-1, 1)), cx.add(d.select(-1, 2), ScalarConstants.One), cy.add(d.select(-1, 3), ScalarConstants.One)], -1)
            .MoveToOuterDisposeScope();
    }

    /// <summary>Boxes from centres [K, 2], distribution logits [K, 4·(RegMax+1)] and strides [K] → [K, 4].</summary>
    public Tensor Decode(Tensor centres, Tensor logits, Tensor strides)
    {
        using var scope = NewDisposeScope();
        return DecodeDistances(centres, Integral(logits), strides).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The two-bin distribution whose expectation is each distance (DFL's target): distance d in
    /// [0, RegMax] puts ⌊d⌋+1 - d on bin ⌊d⌋ and d - ⌊d⌋ on bin ⌊d⌋+1. [..., 4] → [..., 4, RegMax + 1].
    /// </summary>
    public Tensor TargetDistribution(Tensor distances)
    {
        using var scope = NewDisposeScope();
        using var lastBin = ((long)RegMax).ToScalar();
        var left = distances.floor().clamp_max(lastBin).to(ScalarType.Int64);
        var right = left.add(ScalarConstants.One, ScalarConstants.One).clamp_max(lastBin);
        var weightRight = distances.sub(left.to(distances.dtype));
        var weightLeft = weightRight.neg().add(ScalarConstants.One, ScalarConstants.One);
        long[] shape = [.. distances.shape, RegMax + 1];
        var distribution = zeros(shape, dtype: distances.dtype, device: distances.device);
        distribution.scatter_add_(-1, left.unsqueeze(-1), weightLeft.unsqueeze(-1));
        distribution.scatter_add_(-1, right.unsqueeze(-1), weightRight.unsqueeze(-1));
        return distribution.MoveToOuterDisposeScope();
    }
}
