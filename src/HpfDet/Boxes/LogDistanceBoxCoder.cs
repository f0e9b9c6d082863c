using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Boxes;

/// <summary>Options of <see cref="LogDistanceBoxCoder"/>.</summary>
/// <param name="MinRatio">Smallest distance / edge ratio encoded (1/16, mmdetection 2.x's FoveaHead).</param>
/// <param name="MaxRatio">Largest distance / edge ratio encoded (16).</param>
public sealed record LogDistanceBoxCoderOptions(double MinRatio = 1.0 / 16, double MaxRatio = 16.0);

/// <summary>
/// FoveaBox's box code: the distances from the prior's centre (the cell's location) to the four sides of
/// the box, each divided by the prior's side (the level's base edge), clamped to [MinRatio, MaxRatio] and
/// taken in log space: (log(l/e), log(t/e), log(r/e), log(b/e)). Decoding is centre ∓ e·exp(code) without
/// a clamp, as mmdetection 2.x's FoveaHead decodes. Priors are squares of side e; tensors are [..., 4] and
/// broadcast against each other.
/// </summary>
public sealed class LogDistanceBoxCoder(LogDistanceBoxCoderOptions? options = null)
{
    public LogDistanceBoxCoderOptions Options { get; } = options ?? new LogDistanceBoxCoderOptions();

    /// <summary>log(clamp(distance / edge)) codes of <paramref name="boxes"/> with respect to <paramref name="priors"/>.</summary>
    public Tensor Encode(Tensor priors, Tensor boxes)
    {
        using var scope = NewDisposeScope();
        using var min = Options.MinRatio.ToScalar();
        using var max = Options.MaxRatio.ToScalar();
        priors = priors.to(boxes.dtype);
        var (cx, cy, edge) = CentreAndEdge(priors);
        var distances = stack([cx.sub(boxes.select(-1, 0)), cy.sub(boxes.select(-1, 1)), boxes.select(-1, 2).sub(cx), boxes.select(-1, 3).sub(cy)], -1);
        return distances.div(edge.unsqueeze(-1)).clamp(min, max).log().MoveToOuterDisposeScope();
    }

    /// <summary>Boxes from priors and log-distance codes; the inverse of <see cref="Encode"/> within the clamp.</summary>
    public Tensor Decode(Tensor priors, Tensor codes)
    {
        using var scope = NewDisposeScope();
        priors = priors.to(codes.dtype);
        var (cx, cy, edge) = CentreAndEdge(priors);
        var distances = codes.exp().mul(edge.unsqueeze(-1));
        var boxes = stack([cx.sub(distances.select(-1, 0)), cy.sub(distances.select(-1, 1)),
            cx.add(distances.select(-1, 2), ScalarConstants.One), cy.add(distances.select(-1, 3), ScalarConstants.One)], -1);
        return boxes.MoveToOuterDisposeScope();
    }

    static (Tensor Cx, Tensor Cy, Tensor Edge) CentreAndEdge(Tensor priors)
    {
        var cx = priors.select(-1, 0).add(priors.select(-1, 2), ScalarConstants.One).mul(ScalarConstants.HalfDouble);
        var cy = priors.select(-1, 1).add(priors.select(-1, 3), ScalarConstants.One).mul(ScalarConstants.HalfDouble);
        var edge = priors.select(-1, 2).sub(priors.select(-1, 0));
        return (cx, cy, edge);
    }
}
