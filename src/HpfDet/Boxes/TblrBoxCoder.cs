using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Boxes;

/// <summary>
/// Boxes as distances from the prior's centre to the four sides in (top, bottom, left, right) order, as
/// mmdetection 2.x's TBLRBBoxCoder with normalize_by_wh: top and bottom are divided by the prior's height,
/// left and right by its width, and all four by <see cref="Normalizer"/>. For FSAF's square priors of side
/// = stride this is distance / (4·stride). Works on [..., 4] tensors that broadcast against each other.
/// </summary>
public sealed class TblrBoxCoder
{
    /// <summary>Divides the size-normalised distances (FSAF: 4).</summary>
    public double Normalizer { get; }

    public TblrBoxCoder(double normalizer = 4.0)
    {
        if (!(normalizer > 0)) throw new ArgumentOutOfRangeException(nameof(normalizer), $"Normalizer must be > 0, got {normalizer}.");
        Normalizer = normalizer;
    }

    /// <summary>Targets (t, b, l, r) of <paramref name="boxes"/> (xyxy) with respect to <paramref name="priors"/> (xyxy).</summary>
    public Tensor Encode(Tensor priors, Tensor boxes)
    {
        using var scope = NewDisposeScope();
        priors = priors.to(boxes.dtype);
        var (cx, cy) = Centre(priors);
        var distances = stack([cy.sub(boxes.select(-1, 1)), boxes.select(-1, 3).sub(cy), cx.sub(boxes.select(-1, 0)), boxes.select(-1, 2).sub(cx)], -1);
        using var normalizer = Normalizer.ToScalar();
        return distances.div(Sizes(priors)).div_(normalizer).MoveToOuterDisposeScope();
    }

    /// <summary>Boxes (xyxy) from priors and (t, b, l, r) codes; the inverse of <see cref="Encode"/>.</summary>
    public Tensor Decode(Tensor priors, Tensor codes)
    {
        using var scope = NewDisposeScope();
        priors = priors.to(codes.dtype);
        var (cx, cy) = Centre(priors);
        using var normalizer = Normalizer.ToScalar();
        var d = codes.mul(Sizes(priors)).mul_(normalizer);
        var boxes = stack([cx.sub(d.select(-1, 2)), cy.sub(d.select(-1, 0)), cx.add(d.select(-1, 3), ScalarConstants.One), cy.add(d.select(-1, 1), ScalarConstants.One)], -1);
        return boxes.MoveToOuterDisposeScope();
    }

    static (Tensor X, Tensor Y) Centre(Tensor priors) => (
        priors.select(-1, 0).add(priors.select(-1, 2), ScalarConstants.One).mul(ScalarConstants.HalfDouble),
        priors.select(-1, 1).add(priors.select(-1, 3), ScalarConstants.One).mul(ScalarConstants.HalfDouble));

    /// <summary>(h, h, w, w): the divisor of (t, b, l, r).</summary>
    static Tensor Sizes(Tensor priors)
    {
        var w = priors.select(-1, 2).sub(priors.select(-1, 0));
        var h = priors.select(-1, 3).sub(priors.select(-1, 1));
        return stack([h, h, w, w], -1);
    }
}
