using HpfDet.Boxes;
using HpfDet.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Assigners;

/// <summary>Options of <see cref="CenterRegionAssigner"/> (defaults: mmdetection 2.x's FSAF configuration).</summary>
/// <param name="PositiveScale">Side of the effective (core) box relative to the ground truth's, about its centre (0.2).</param>
/// <param name="NegativeScale">Side of the ignoring (shadow) box relative to the ground truth's (0.2).</param>
/// <param name="MinPositiveIof">A prior touches a region when the region covers more than this fraction of the prior's area (0.01).</param>
/// <param name="CrowdScale">Side of a crowd box's ignore region relative to the box (0.5): priors centred inside it are ignored.</param>
public sealed record CenterRegionAssignerOptions(double PositiveScale = 0.2, double NegativeScale = 0.2, double MinPositiveIof = 0.01, double CrowdScale = 0.5);

/// <summary>What <see cref="CenterRegionAssigner"/> decides for N priors and G ground truths.</summary>
/// <param name="Matches">[N] int64 in <see cref="Models.PriorAssignment.FromMatches"/>'s convention: the 0-based gt of positives,
/// <see cref="Models.PriorAssignment.Background"/>, or <see cref="Models.PriorAssignment.Ignored"/>.</param>
/// <param name="ShadowedClasses">[N, C] bool: the (prior, class) pairs whose classification weight is zero
/// (the prior lies in the ignoring region of a ground truth of that class, or in the effective region of a larger one).</param>
public sealed record CenterRegionAssignment(Tensor Matches, Tensor ShadowedClasses);

/// <summary>
/// FSAF's centre-region assignment (mmdetection 2.x's CenterRegionAssigner with foreground_dominate off),
/// over the priors of all levels at once:
/// <list type="number">
/// <item>A prior is in the effective region of gt g when its centre lies strictly inside g's box and g's box
/// scaled by <see cref="CenterRegionAssignerOptions.PositiveScale"/> about its centre covers more than
/// <see cref="CenterRegionAssignerOptions.MinPositiveIof"/> of the prior's area (intersection / prior area).</item>
/// <item>A prior is in the ignoring region of g when g's box scaled by <see cref="CenterRegionAssignerOptions.NegativeScale"/>
/// covers more than that fraction of the prior and the prior is not in g's effective region.</item>
/// <item>A prior in the effective regions of several gts is positive for the smallest by area (the lowest index on a tie);
/// the other gts shadow it like their ignoring regions.</item>
/// <item>Shadowing zeroes the weight of the shadowing gt's class at that prior. A positive prior shadowed by a
/// gt of its own class becomes a negative instead.</item>
/// <item>Priors centred strictly inside a crowd box scaled by <see cref="CenterRegionAssignerOptions.CrowdScale"/>
/// are ignored; crowd boxes are never assigned and shadow nothing.</item>
/// </list>
/// The classification losses here weigh whole priors, not (prior, class) pairs, so
/// <see cref="Assign"/>'s matches make every non-positive prior with a shadowed class ignored.
/// </summary>
public sealed class CenterRegionAssigner
{
    public CenterRegionAssignerOptions Options { get; }

    public CenterRegionAssigner(CenterRegionAssignerOptions? options = null)
    {
        Options = options ?? new CenterRegionAssignerOptions();
        if (!(Options.PositiveScale > 0) || !(Options.NegativeScale > 0) || !(Options.CrowdScale > 0))
            throw new ArgumentOutOfRangeException(nameof(options), $"CenterRegionAssigner: the scales must be > 0, got {Options.PositiveScale}, {Options.NegativeScale}, {Options.CrowdScale}.");
        if (!(Options.MinPositiveIof >= 0 && Options.MinPositiveIof < 1))
            throw new ArgumentOutOfRangeException(nameof(options), $"CenterRegionAssigner: MinPositiveIof must be in [0, 1), got {Options.MinPositiveIof}.");
    }

    /// <summary>Boxes [G, 4] scaled by <paramref name="scale"/> about their centres.</summary>
    public static Tensor ScaleBoxes(Tensor boxes, double scale)
    {
        using var scope = NewDisposeScope();
        using var half = (0.5 * scale).ToScalar();
        var centre = boxes.narrow(-1, 0, 2).add(boxes.narrow(-1, 2, 2), ScalarConstants.One).mul(ScalarConstants.HalfDouble);
        var halfSize = boxes.narrow(-1, 2, 2).sub(boxes.narrow(-1, 0, 2)).mul(half);
        return cat([centre.sub(halfSize), centre.add(halfSize, ScalarConstants.One)], -1).MoveToOuterDisposeScope();
    }

    /// <summary>[N, G] bool: the point lies strictly inside the box.</summary>
    static Tensor Inside(Tensor points, Tensor boxes)
    {
        var x = points.select(1, 0).unsqueeze(1);
        var y = points.select(1, 1).unsqueeze(1);
        return x.gt(boxes.select(1, 0).unsqueeze(0)).logical_and_(x.lt(boxes.select(1, 2).unsqueeze(0)))
            .logical_and_(y.gt(boxes.select(1, 1).unsqueeze(0))).logical_and_(y.lt(boxes.select(1, 3).unsqueeze(0)));
    }

    /// <summary>Assigns the ground truth to the priors (no gradient).</summary>
    /// <param name="priors">[N, 4] xyxy.</param>
    /// <param name="gtBoxes">[G, 4] xyxy.</param>
    /// <param name="gtLabels">[G] int64 in [0, numClasses).</param>
    /// <param name="numClasses">C.</param>
    /// <param name="gtIsCrowd">[G] bool or null.</param>
    public CenterRegionAssignment Assign(Tensor priors, Tensor gtBoxes, Tensor gtLabels, int numClasses, Tensor? gtIsCrowd = null)
    {
        if (priors.dim() != 2 || priors.shape[1] != 4) throw new ArgumentException($"CenterRegionAssigner: priors have shape [{string.Join(", ", priors.shape)}]; expected [N, 4].", nameof(priors));
        if (gtBoxes.dim() != 2 || gtBoxes.shape[1] != 4) throw new ArgumentException($"CenterRegionAssigner: gt boxes have shape [{string.Join(", ", gtBoxes.shape)}]; expected [G, 4].", nameof(gtBoxes));
        if (gtLabels.dim() != 1 || gtLabels.shape[0] != gtBoxes.shape[0]) throw new ArgumentException($"CenterRegionAssigner: {gtLabels.shape[0]} labels for {gtBoxes.shape[0]} gt boxes.", nameof(gtLabels));
        if (gtIsCrowd is not null && (gtIsCrowd.dim() != 1 || gtIsCrowd.shape[0] != gtBoxes.shape[0])) throw new ArgumentException($"CenterRegionAssigner: crowd flags have shape [{string.Join(", ", gtIsCrowd.shape)}]; expected [{gtBoxes.shape[0]}].", nameof(gtIsCrowd));

        using var _ = torch.no_grad();
        using var scope = NewDisposeScope();
        var device = priors.device;
        long n = priors.shape[0], g = gtBoxes.shape[0];
        using var background = PriorAssignment.Background.ToScalar();
        if (g == 0)
            return new CenterRegionAssignment(torch.full(n, background, dtype: ScalarType.Int64, device: device).MoveToOuterDisposeScope(),
                torch.zeros(n, numClasses, dtype: ScalarType.Bool, device: device).MoveToOuterDisposeScope());

        var boxes = gtBoxes.to(ScalarType.Float32, device);
        priors = priors.to(ScalarType.Float32);
        var crowd = gtIsCrowd is null ? torch.zeros(g, dtype: ScalarType.Bool, device: device) : gtIsCrowd.to(ScalarType.Bool, device);
        var regular = crowd.logical_not().unsqueeze(0);                                          // [1, G]
        var centres = BoxOps.Centers(priors);
        using var minIof = Options.MinPositiveIof.ToScalar();

        var inCore = Inside(centres, boxes)
            .logical_and_(BoxOps.PairwiseIoF(priors, ScaleBoxes(boxes, Options.PositiveScale)).gt(minIof))
            .logical_and_(regular);                                                              // [N, G]
        var inShadow = BoxOps.PairwiseIoF(priors, ScaleBoxes(boxes, Options.NegativeScale)).gt(minIof)
            .logical_and_(inCore.logical_not()).logical_and_(regular);

        // The smallest gt whose effective region holds the prior wins (argmin takes the first of equal areas).
        using var huge = double.PositiveInfinity.ToScalar();
        var area = BoxOps.Area(boxes).unsqueeze(0).expand(n, g);
        var winner = torch.where(inCore, area, torch.full_like(area, huge)).argmin(1);        // [N]
        var matched = inCore.any(1);
        var won = torch.zeros(n, g, dtype: ScalarType.Bool, device: device).scatter_(1, winner.unsqueeze(1), matched.unsqueeze(1));
        var shadowedPairs = inShadow.logical_or_(inCore.logical_and(won.logical_not()));        // [N, G]

        var oneHot = nn.functional.one_hot(gtLabels.to(ScalarType.Int64, device), numClasses).to(ScalarType.Float32);   // [G, C]
        var shadowedClasses = shadowedPairs.to(ScalarType.Float32).mm(oneHot).gt(ScalarConstants.ZeroDouble);      // [N, C]

        // A positive shadowed for its own class is a negative with that class at weight zero.
        var ownClass = gtLabels.to(ScalarType.Int64, device).index_select(0, winner);
        var ownShadowed = shadowedClasses.gather(1, ownClass.unsqueeze(1)).squeeze(1);
        var positive = matched.logical_and(ownShadowed.logical_not());

        var ignored = shadowedClasses.any(1).logical_and_(positive.logical_not());
        if (gtIsCrowd is not null && crowd.any().item<bool>())
        {
            var crowdBoxes = ScaleBoxes(boxes.index_select(0, crowd.nonzero().squeeze(1)), Options.CrowdScale);
            var inCrowd = Inside(centres, crowdBoxes).any(1);
            ignored.logical_or_(inCrowd);
            positive.logical_and_(inCrowd.logical_not());
        }
        using var ignoredValue = PriorAssignment.Ignored.ToScalar();
        var matches = torch.where(positive, winner, torch.full_like(winner, background)).masked_fill_(ignored, ignoredValue);
        return new CenterRegionAssignment(matches.MoveToOuterDisposeScope(), shadowedClasses.MoveToOuterDisposeScope());
    }
}
