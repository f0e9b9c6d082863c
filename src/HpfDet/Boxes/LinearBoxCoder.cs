using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Boxes;

/// <summary>
/// Boxes as distances from the prior's centre to the four sides (torchvision's BoxLinearCoder, FCOS):
/// (l, t, r, b) = (cx − x1, cy − y1, x2 − cx, y2 − cy), divided by the prior's (w, h, w, h) when
/// <see cref="NormalizeBySize"/>. Works on [..., 4] tensors that broadcast against each other.
/// </summary>
public sealed class LinearBoxCoder(bool normalizeBySize = true)
{
    public bool NormalizeBySize { get; } = normalizeBySize;

    /// <summary>Targets (l, t, r, b) of <paramref name="boxes"/> with respect to <paramref name="priors"/>.</summary>
    public Tensor Encode(Tensor priors, Tensor boxes)
    {
        using var scope = NewDisposeScope();
        priors = priors.to(boxes.dtype);
        var cx = priors.select(-1, 0).add(priors.select(-1, 2), ScalarConstants.One).mul(ScalarConstants.HalfDouble);
        var cy = priors.select(-1, 1).add(priors.select(-1, 3), ScalarConstants.One).mul(ScalarConstants.HalfDouble);
        var targets = stack([cx.sub(boxes.select(-1, 0)), cy.sub(boxes.select(-1, 1)), boxes.select(-1, 2).sub(cx), boxes.select(-1, 3).sub(cy)], -1);
        if (NormalizeBySize) targets = targets.div(Sizes(priors));
        return targets.MoveToOuterDisposeScope();
    }

    /// <summary>Boxes from priors and (l, t, r, b) codes; the inverse of <see cref="Encode"/>.</summary>
    public Tensor Decode(Tensor priors, Tensor codes)
    {
        using var scope = NewDisposeScope();
        priors = priors.to(codes.dtype);
        var cx = priors.select(-1, 0).add(priors.select(-1, 2), ScalarConstants.One).mul(ScalarConstants.HalfDouble);
        var cy = priors.select(-1, 1).add(priors.select(-1, 3), ScalarConstants.One).mul(ScalarConstants.HalfDouble);
        if (NormalizeBySize) codes = codes.mul(Sizes(priors));
        var boxes = stack([cx.sub(codes.select(-1, 0)), cy.sub(codes.select(-1, 1)), cx.add(codes.select(-1, 2), ScalarConstants.One), cy.add(codes.select(-1, 3), ScalarConstants.One)], -1);
        return boxes.MoveToOuterDisposeScope();
    }

    static Tensor Sizes(Tensor priors)
    {
        var w = priors.select(-1, 2).sub(priors.select(-1, 0));
        var h = priors.select(-1, 3).sub(priors.select(-1, 1));
        return stack([w, h, w, h], -1);
    }
}
