using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Assigners;

/// <summary>Options of <see cref="FcosAssigner"/> (torchvision FCOS's values).</summary>
/// <param name="CenterSamplingRadius">A point matches a box only if |point − box centre|∞ &lt; radius × prior size.</param>
/// <param name="LowerScale">max(l, t, r, b) must exceed LowerScale × prior size (not on the first level: bound 0).</param>
/// <param name="UpperScale">max(l, t, r, b) must be below UpperScale × prior size (not on the last level: bound +∞).</param>
public sealed record FcosAssignerOptions(double CenterSamplingRadius = 1.5, double LowerScale = 4.0, double UpperScale = 8.0);

/// <summary>
/// FCOS target assignment as torchvision 0.14's <c>FCOS.compute_loss</c>: each prior (a square box of
/// side s centred on its point) matches the boxes whose centre is within radius·s of the point
/// (Chebyshev distance), that contain the point strictly, and whose largest side distance
/// max(l, t, r, b) lies in the open interval (4s, 8s), with 0 as the lower bound on the first level and
/// +∞ as the upper bound on the last; a point matching several boxes takes the one of smallest area.
/// Computed in float64 whatever the inputs' dtype, so the decisions are those of the float64 reference.
/// </summary>
public sealed class FcosAssigner(FcosAssignerOptions? options = null)
{
    public FcosAssignerOptions Options { get; } = options ?? new FcosAssignerOptions();

    /// <summary>Matches priors to ground-truth boxes.</summary>
    /// <param name="priors">[N, 4] priors of all levels, level order.</param>
    /// <param name="firstLevelCount">Priors of the first level (lower bound 0).</param>
    /// <param name="lastLevelCount">Priors of the last level (upper bound +∞).</param>
    /// <param name="gtBoxes">[G, 4] boxes (x1, y1, x2, y2).</param>
    /// <returns>[N] int64: the index of the matched box, −1 for background.</returns>
    public Tensor Assign(Tensor priors, long firstLevelCount, long lastLevelCount, Tensor gtBoxes)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        long n = priors.shape[0];
        if (gtBoxes.shape[0] == 0)
            return full(n, ScalarConstants.MinusOne, dtype: ScalarType.Int64, device: priors.device).MoveToOuterDisposeScope();
        using var radius = Options.CenterSamplingRadius.ToScalar();
        using var lowerScale = Options.LowerScale.ToScalar();
        using var upperScale = Options.UpperScale.ToScalar();
        using var infinity = double.PositiveInfinity.ToScalar();
        using var areaCeiling = 1e8.ToScalar();
        using var unmatched = 1e-5.ToScalar();
        var p = priors.to(float64);
        var gt = gtBoxes.to(float64, priors.device);
        var gtCenters = gt.narrow(1, 0, 2).add(gt.narrow(1, 2, 2), ScalarConstants.One).div(ScalarConstants.Two);                       // [G, 2]
        var centers = p.narrow(1, 0, 2).add(p.narrow(1, 2, 2), ScalarConstants.One).div(ScalarConstants.Two);                           // [N, 2]
        var sizes = p.select(1, 2).sub(p.select(1, 0));                                          // [N]
        var match = centers.unsqueeze(1).sub(gtCenters.unsqueeze(0)).abs().amax([2])
            .lt(sizes.unsqueeze(1).mul(radius));                           // [N, G]
        var x = centers.select(1, 0).unsqueeze(1);
        var y = centers.select(1, 1).unsqueeze(1);
        var distances = stack([x.sub(gt.select(1, 0).unsqueeze(0)), y.sub(gt.select(1, 1).unsqueeze(0)),
            gt.select(1, 2).unsqueeze(0).sub(x), gt.select(1, 3).unsqueeze(0).sub(y)], 2);        // [N, G, 4]
        match = match.logical_and(distances.amin([2]).gt(ScalarConstants.Zero));
        var lower = sizes.mul(lowerScale);
        lower.narrow(0, 0, firstLevelCount).fill_(ScalarConstants.ZeroDouble);
        var upper = sizes.mul(upperScale);
        upper.narrow(0, n - lastLevelCount, lastLevelCount).fill_(infinity);
        var largest = distances.amax([2]);
        match = match.logical_and(largest.gt(lower.unsqueeze(1))).logical_and(largest.lt(upper.unsqueeze(1)));
        // Smallest area wins: (1e8 − area) on matches, 0 elsewhere, the first maximum on ties.
        var areas = gt.select(1, 2).sub(gt.select(1, 0)).mul(gt.select(1, 3).sub(gt.select(1, 1)));
        var score = match.to(float64).mul(areas.neg().add(areaCeiling, ScalarConstants.One).unsqueeze(0));
        var (best, index) = score.max(1);
        return index.masked_fill(best.lt(unmatched), ScalarConstants.MinusOne).MoveToOuterDisposeScope();
    }
}
