using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Losses;

/// <summary>
/// One level's inputs after validation: ignore rows folded into background with weight 0, the
/// one-hot target mask built once, and the positive mask.
/// </summary>
internal readonly record struct PreparedLevel(
    Tensor Logits,          // [N, C]
    Tensor TargetMask,      // [N, C] bool, true at the target class of positive rows
    Tensor LabelsClamped,   // [N] int64 in [0, C-1] (background and ignore rows point at class C-1, masked out)
    Tensor RowWeights,      // [N] logits dtype; ignore rows 0
    Tensor PositiveMask,    // [N] bool, labels in [0, C)
    Tensor? SoftTargets);   // [N] logits dtype or null

/// <summary>Shared checks and numerics for the classification losses.</summary>
internal static class LossMath
{
    /// <summary>
    /// Validates shapes, dtypes and values and prepares every level. Throws ArgumentException naming
    /// both shapes on a mismatch, and a clear error on NaN/Inf logits.
    /// </summary>
    public static PreparedLevel[] Prepare(string lossName, IReadOnlyList<ClassificationLevelInput> levels, bool needsSoftTargets, FiniteCheck finiteCheck)
    {
        ArgumentNullException.ThrowIfNull(levels);
        if (levels.Count == 0) throw new ArgumentException($"{lossName}: no pyramid level given; pass at least one level (it may have zero rows).", nameof(levels));
        long numClasses = -1;
        var prepared = new PreparedLevel[levels.Count];
        for (int l = 0; l < levels.Count; l++)
        {
            var (logits, labels, weights, soft) = levels[l];
            if (logits.dim() != 2)
                throw new ArgumentException($"{lossName}: level {l} logits have shape {Shape(logits)}; expected [N_l, C].", nameof(levels));
            if (logits.dtype != ScalarType.Float32 && logits.dtype != ScalarType.Float64)
                throw new ArgumentException($"{lossName}: level {l} logits have dtype {logits.dtype}; expected Float32 or Float64.", nameof(levels));
            if (numClasses < 0) numClasses = logits.shape[1];
            else if (logits.shape[1] != numClasses)
                throw new ArgumentException($"{lossName}: level {l} logits have shape {Shape(logits)} but level 0 has {numClasses} classes; every level must have the same C.", nameof(levels));
            long n = logits.shape[0];
            if (labels.dim() != 1 || labels.shape[0] != n)
                throw new ArgumentException($"{lossName}: level {l} labels have shape {Shape(labels)} but logits have shape {Shape(logits)}; labels must be [N_l] with N_l = {n}.", nameof(levels));
            if (labels.dtype != ScalarType.Int64)
                throw new ArgumentException($"{lossName}: level {l} labels have dtype {labels.dtype}; expected Int64 (background = C, ignore = -1).", nameof(levels));
            if (weights is not null && (weights.dim() != 1 || weights.shape[0] != n))
                throw new ArgumentException($"{lossName}: level {l} label weights have shape {Shape(weights)} but logits have shape {Shape(logits)}; weights must be [N_l] with N_l = {n}.", nameof(levels));
            if (soft is not null && (soft.dim() != 1 || soft.shape[0] != n))
                throw new ArgumentException($"{lossName}: level {l} soft targets have shape {Shape(soft)} but logits have shape {Shape(logits)}; soft targets must be [N_l] with N_l = {n}.", nameof(levels));
            if (needsSoftTargets && soft is null)
                throw new ArgumentException($"{lossName}: level {l} has no soft targets; this loss needs the IoU quality target [N_l] of every positive row.", nameof(levels));
            if (ShouldCheck(finiteCheck, logits) && n > 0 && !torch.isfinite(logits).all().item<bool>())
                throw new ArgumentException($"{lossName}: level {l} logits contain NaN or Inf ({CountNonFinite(logits)} of {logits.numel()} values); the model diverged or its inputs are corrupt — lower the learning rate or check the data.", nameof(levels));

            var dtype = logits.dtype;
            var ignore = labels.lt(0);
            var positive = labels.ge(0).logical_and_(labels.lt(numClasses));
            var rowWeights = weights is null ? torch.ones(n, dtype: dtype, device: logits.device) : weights.to(dtype);
            rowWeights = rowWeights.masked_fill(ignore, 0.0);
            var clamped = labels.clamp(0, numClasses - 1);
            var targetMask = clamped.unsqueeze(1).eq(torch.arange(numClasses, device: logits.device)).logical_and_(positive.unsqueeze(1));
            prepared[l] = new PreparedLevel(logits, targetMask, clamped, rowWeights, positive, soft?.to(dtype));
        }
        return prepared;
    }

    static bool ShouldCheck(FiniteCheck check, Tensor t) => check switch
    {
        FiniteCheck.Always => true,
        FiniteCheck.OnCpu => t.device_type == DeviceType.CPU,
        _ => false,
    };

    static long CountNonFinite(Tensor t) => torch.isfinite(t).logical_not().sum().item<long>();

    public static string Shape(Tensor t) => "[" + string.Join(", ", t.shape) + "]";

    /// <summary>
    /// log(1 + e^x) without overflow. libtorch returns x itself above the threshold; 20 keeps the
    /// float32 error below its epsilon, and 50 does the same for float64 (e^-50 ≈ 2e-22).
    /// </summary>
    public static Tensor Softplus(Tensor x) => nn.functional.softplus(x, 1.0, x.dtype == ScalarType.Float64 ? 50.0 : 20.0);

    /// <summary>
    /// Σ over rows and classes of w_row · α_t · σ(s)^γ · softplus(s), s = (1-2t)·x: the focal loss
    /// written with the stable BCE-with-logits form. γ and α are host scalars here (fixed focal loss).
    /// </summary>
    public static Tensor FocalSum(PreparedLevel level, double gamma, double alpha)
    {
        var x = level.Logits;
        var s = torch.where(level.TargetMask, x.neg(), x);
        var alphaT = level.TargetMask.to(x.dtype).mul_(2 * alpha - 1).add_(1 - alpha);
        var modulating = gamma == 2.0 ? torch.sigmoid(s).square() : torch.sigmoid(s).pow(gamma);
        var perRow = alphaT.mul_(modulating).mul_(Softplus(s)).sum(1);
        return perRow.mul_(level.RowWeights).sum();
    }

    /// <summary>
    /// As <see cref="FocalSum(PreparedLevel,double,double)"/> with γ and α as 0-dim device tensors
    /// (HPF's per-level values, computed on the device and never read back; no gradient flows to them).
    /// </summary>
    public static Tensor FocalSum(PreparedLevel level, Tensor gamma, Tensor alpha)
    {
        var x = level.Logits;
        var s = torch.where(level.TargetMask, x.neg(), x);
        var alphaT = level.TargetMask.to(x.dtype).mul_(alpha.mul(2).sub_(1)).add_(alpha.neg().add_(1));
        var modulating = torch.sigmoid(s).pow(gamma);
        var perRow = alphaT.mul_(modulating).mul_(Softplus(s)).sum(1);
        return perRow.mul_(level.RowWeights).sum();
    }

    /// <summary>
    /// Per level, without gradient: the positive count, and the count and sum of w·softplus(-x_target)
    /// over the positives with weight &gt; 0 (the entries HPF's γ is the mean of).
    /// </summary>
    public static (Tensor Positives, Tensor Count, Tensor Sum) TargetNegLogP(PreparedLevel level)
    {
        using var _ = torch.no_grad();
        var x = level.Logits.detach();
        var dtype = x.dtype;
        var positives = level.PositiveMask.sum().to(dtype);
        var valid = level.PositiveMask.logical_and(level.RowWeights.gt(0));
        var xTarget = x.gather(1, level.LabelsClamped.unsqueeze(1)).squeeze(1);
        var v = Softplus(xTarget.neg()).mul_(level.RowWeights).masked_fill_(valid.logical_not(), 0.0);
        return (positives, valid.sum().to(dtype), v.sum());
    }

    /// <summary>
    /// Forward of a loss with fixed hyperparameters: per-level sums from <paramref name="levelSum"/>,
    /// divided by the normaliser, and (optionally) per-level statistics with the fixed γ and α.
    /// </summary>
    public static (Tensor Total, LossStatistics? Stats) ForwardFixed(
        PreparedLevel[] prepared, Func<PreparedLevel, Tensor> levelSum, Tensor? normalizer,
        double gamma, double alpha, bool collectStatistics)
    {
        int numLevels = prepared.Length;
        var dtype = prepared[0].Logits.dtype;
        var device = prepared[0].Logits.device;
        var levelSums = new Tensor[numLevels];
        var positives = new Tensor[numLevels];
        var counts = new Tensor[numLevels];
        var sums = new Tensor[numLevels];
        for (int l = 0; l < numLevels; l++)
        {
            levelSums[l] = levelSum(prepared[l]);
            if (collectStatistics)
                (positives[l], counts[l], sums[l]) = TargetNegLogP(prepared[l]);
            else
                positives[l] = prepared[l].PositiveMask.sum().to(dtype);
        }
        var norm = Normalizer(normalizer, torch.stack(positives).sum());
        var total = torch.stack(levelSums).sum().div(norm);
        if (!collectStatistics) return (total, null);
        using var _ = torch.no_grad();
        var stats = new LossStatistics(
            torch.full(numLevels, gamma, dtype: dtype, device: device),
            torch.full(numLevels, alpha, dtype: dtype, device: device),
            torch.stack(positives),
            torch.stack(sums).div(torch.stack(counts)),
            torch.stack(levelSums).detach().div(norm.detach()));
        return (total, stats);
    }

    /// <summary>Stable binary cross-entropy with logits, elementwise: softplus(x) - x·t.</summary>
    public static Tensor BceWithLogits(Tensor x, Tensor t) => Softplus(x).sub_(x.mul(t));

    /// <summary>The ATSS normaliser max(Σ positives, 1) as a device scalar, or the caller's.</summary>
    public static Tensor Normalizer(Tensor? given, Tensor totalPositives) =>
        given is not null ? given.to(totalPositives.dtype) : totalPositives.clamp_min(1.0);
}
