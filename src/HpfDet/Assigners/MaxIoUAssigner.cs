using HpfDet.Boxes;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Assigners;

/// <summary>Options of <see cref="MaxIoUAssigner"/> (defaults: torchvision RetinaNet's Matcher).</summary>
/// <param name="PositiveIoU">A prior whose best IoU is at least this is matched to that ground truth.</param>
/// <param name="NegativeIoU">A prior whose best IoU is below this is background; in between it is ignored.</param>
/// <param name="AllowLowQualityMatches">For each ground truth, every prior whose IoU equals that ground
/// truth's highest IoU is matched to its own best ground truth, even below <paramref name="PositiveIoU"/>.</param>
public sealed record MaxIoUAssignerOptions(double PositiveIoU = 0.5, double NegativeIoU = 0.4, bool AllowLowQualityMatches = true);

/// <summary>
/// Max-IoU matching of priors to ground truth (torchvision's <c>Matcher</c>; mmdetection's
/// <c>MaxIoUAssigner</c> with equal thresholds on every level). Each prior takes the ground truth of
/// highest IoU (the first on ties); it is positive from <see cref="MaxIoUAssignerOptions.PositiveIoU"/>,
/// background below <see cref="MaxIoUAssignerOptions.NegativeIoU"/> and ignored in between. With
/// low-quality matches, the priors that reach a ground truth's best IoU are positive whatever that IoU is
/// (as in torchvision, also when it is 0: then every prior not overlapping any box is matched).
/// </summary>
public sealed class MaxIoUAssigner
{
    /// <summary>Match value of background priors.</summary>
    public const long Background = -1;

    /// <summary>Match value of ignored priors (between the thresholds).</summary>
    public const long Ignored = -2;

    public MaxIoUAssignerOptions Options { get; }

    public MaxIoUAssigner(MaxIoUAssignerOptions? options = null)
    {
        Options = options ?? new MaxIoUAssignerOptions();
        if (!(Options.NegativeIoU <= Options.PositiveIoU))
            throw new HpfDetException($"MaxIoUAssignerOptions: NegativeIoU ({Options.NegativeIoU}) must not exceed PositiveIoU ({Options.PositiveIoU}).");
    }

    /// <summary>Matches priors [N, 4] to ground-truth boxes [G, 4] (xyxy).</summary>
    /// <returns>[N] int64: the matched ground-truth index, <see cref="Background"/> or <see cref="Ignored"/>; all background when G = 0.</returns>
    public Tensor Assign(Tensor priors, Tensor gtBoxes)
    {
        using var _ = torch.no_grad();
        using var scope = NewDisposeScope();
        long n = priors.shape[0];
        using var background = Background.ToScalar();
        using var ignored = Ignored.ToScalar();
        using var negativeIoU = Options.NegativeIoU.ToScalar();
        using var positiveIoU = Options.PositiveIoU.ToScalar();
        if (gtBoxes.shape[0] == 0)
            return torch.full(n, background, dtype: ScalarType.Int64, device: priors.device).MoveToOuterDisposeScope();
        var iou = BoxOps.PairwiseIoU(gtBoxes, priors.to(gtBoxes.dtype));                   // [G, N]
        var (best, bestGt) = iou.max(0);                                                  // per prior
        var matches = bestGt.clone();
        matches.masked_fill_(best.lt(negativeIoU), background);
        matches.masked_fill_(best.ge(negativeIoU).logical_and(best.lt(positiveIoU)), ignored);
        if (Options.AllowLowQualityMatches)
        {
            var highestPerGt = iou.max(1).values;                                         // [G]
            var lowQuality = iou.eq(highestPerGt.unsqueeze(1)).any(0);                    // [N]
            matches = torch.where(lowQuality, bestGt, matches);
        }
        return matches.MoveToOuterDisposeScope();
    }
}
