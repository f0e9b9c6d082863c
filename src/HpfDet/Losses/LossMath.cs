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
    Tensor RowWeights,      // [N] logits dtype; ignore rows 0 (what the statistics weigh)
    Tensor LossWeights,     // [N] RowWeights times the input's LossScale (what the loss sums weigh)
    Tensor PositiveMask,    // [N] bool, labels in [0, C)
    Tensor? SoftTargets);   // [N] logits dtype or null

/// <summary>Per-level counts of one call ([L] tensors); the last two only when statistics are collected.</summary>
internal readonly record struct PositiveCounts(Tensor Positives, Tensor? NegLogPCount, Tensor? NegLogPSum)
{
    /// <summary>Statistics with one fixed γ and α for every level.</summary>
    public LossStatistics ToStatistics(double gamma, double alpha, Tensor levelLoss)
    {
        using var _ = torch.no_grad();
        using var gammaValue = gamma.ToScalar();
        using var alphaValue = alpha.ToScalar();
        return new LossStatistics(torch.full_like(Positives, gammaValue), torch.full_like(Positives, alphaValue), Positives, NegLogPSum!.div(NegLogPCount!), levelLoss);
    }
}

/// <summary>
/// The statistics of a loss's last call; replacing them disposes the previous ones, so a training
/// loop holds exactly one set.
/// </summary>
internal sealed class StatisticsSlot : IDisposable
{
    public LossStatistics? Current { get; private set; }

    public void Replace(LossStatistics? next)
    {
        if (next is null) return;
        Current?.Dispose();
        Current = next;
    }

    public void Dispose()
    {
        Current?.Dispose();
        Current = null;
    }
}

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
            var (logits, labels, weights, soft, lossScale) = levels[l];
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
            if (lossScale is not null && (lossScale.dim() != 1 || lossScale.shape[0] != n))
                throw new ArgumentException($"{lossName}: level {l} loss scale has shape {Shape(lossScale)} but logits have shape {Shape(logits)}; it must be [N_l] with N_l = {n}.", nameof(levels));
            if (needsSoftTargets && soft is null)
                throw new ArgumentException($"{lossName}: level {l} has no soft targets; this loss needs the IoU quality target [N_l] of every positive row.", nameof(levels));
            if (ShouldCheck(finiteCheck, logits) && n > 0 && !torch.isfinite(logits).all().item<bool>())
                throw new NonFiniteInputException($"{lossName}: level {l} logits contain NaN or Inf ({CountNonFinite(logits)} of {logits.numel()} values); the model diverged or its inputs are corrupt — lower the learning rate or check the data.");

            var dtype = logits.dtype;
            using var classes = numClasses.ToScalar();
            using var lastClass = (numClasses - 1).ToScalar();
            var ignore = labels.lt(ScalarConstants.Zero);
            var positive = labels.ge(ScalarConstants.Zero).logical_and_(labels.lt(classes));
            var rowWeights = weights is null ? torch.ones(n, dtype: dtype, device: logits.device) : weights.to(dtype);
            rowWeights = rowWeights.masked_fill(ignore, ScalarConstants.ZeroDouble);
            var clamped = labels.clamp(ScalarConstants.Zero, lastClass);
            var targetMask = clamped.unsqueeze(1).eq(ScalarFreeFactories.Arange(numClasses, device: logits.device)).logical_and_(positive.unsqueeze(1));
            var lossWeights = lossScale is null ? rowWeights : rowWeights.mul(lossScale.to(dtype));
            prepared[l] = new PreparedLevel(logits, targetMask, clamped, rowWeights, lossWeights, positive, soft?.to(dtype));
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
    /// TorchSharp's public softplus takes β and the threshold as doubles and makes implicit scalars of
    /// them, so its private Scalar overload is called with scalars that live for the process.
    /// </summary>
    public static Tensor Softplus(Tensor x) => SoftplusWithScalars(x, ScalarConstants.OneDouble, x.dtype == ScalarType.Float64 ? SoftplusThreshold64 : SoftplusThreshold32);

    static readonly Scalar SoftplusThreshold32 = 20.0.ToScalar();
    static readonly Scalar SoftplusThreshold64 = 50.0.ToScalar();
    static readonly Func<Tensor, Scalar, Scalar, Tensor> SoftplusWithScalars =
        (typeof(Tensor).GetMethod("softplus1", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic, [typeof(Scalar), typeof(Scalar)])
            ?? throw new MissingMethodException("TorchSharp.torch+Tensor", "softplus1(Scalar, Scalar)"))
        .CreateDelegate<Func<Tensor, Scalar, Scalar, Tensor>>();

    /// <summary>
    /// The focal loss of one level and its gradient, computed together without an autograd graph.
    /// Every entry is first treated as a negative (t = 0: ℓ0 = (1-α)·p^γ·softplus(x), p = σ(x)), which
    /// needs no per-entry target; the target entries of positive rows (one per row) are then corrected
    /// on [N] vectors: ℓ1 = α·q^γ·softplus(-x), q = 1-p. Gradients: dℓ0/dx = (1-α)·p^γ·(γ(1-p)·softplus(x) + p),
    /// dℓ1/dx = -α·q^γ·(γ(1-q)·softplus(-x) + q). γ and α are constants (HPF's are detached).
    /// </summary>
    /// <param name="level">Prepared inputs.</param>
    /// <param name="gamma">0-dim γ on the logits' device.</param>
    /// <param name="alpha">0-dim α on the logits' device.</param>
    /// <param name="hostGamma">γ as a host number when known without synchronising (fixed focal loss, or
    /// HPF on the CPU where reading a value does not wait for a device); null uses the device tensor.</param>
    /// <param name="scale">0-dim factor applied to the gradient (1 / normaliser).</param>
    /// <returns>The level's weighted loss sum (0-dim, no graph) and d(sum·scale)/dx [N, C].</returns>
    public static (Tensor Sum, Tensor Grad) FocalSumAndGradient(PreparedLevel level, Tensor gamma, Tensor alpha, double? hostGamma, Tensor scale)
    {
        using var _ = torch.no_grad();
        var x = level.Logits.detach();
        var w = level.LossWeights;
        var oneMinusAlpha = alpha.neg().add_(ScalarConstants.One, ScalarConstants.One);
        using var hostExponent = hostGamma?.ToScalar();
        // p^γ with a host exponent where one is known (a square for γ = 2), else with the device γ.
        Tensor Pow(Tensor b) => hostGamma switch { 2.0 => b.pow(ScalarConstants.Two), { } => b.pow(hostExponent!), null => b.pow(gamma) };

        // Dense part, every entry as a negative. Four [N, C] buffers, reused in place: this loop is
        // bound by memory traffic, not arithmetic.
        var p = torch.sigmoid(x);
        var sp = Softplus(x);
        // p^γ for a non-integer γ as exp(γ·log p) with log p = x - softplus(x): cheaper than pow, which
        // recomputes a logarithm the softplus already holds.
        var m = hostGamma switch
        {
            2.0 => p.pow(ScalarConstants.Two),
            { } => x.sub(sp).mul_(hostExponent!).exp_(),
            null => x.sub(sp).mul_(gamma).exp_(),
        };
        var t = m.mul(sp);                                                               // p^γ·softplus(x)
        var rowLoss = t.sum(1);                                                          // [N]

        // Target entries (column label_i of positive rows), gathered before the buffers are reused.
        var index = level.LabelsClamped.unsqueeze(1);
        var xt = x.gather(1, index).squeeze(1);                                           // [N]
        var pt = p.gather(1, index).squeeze(1);
        var l0 = t.gather(1, index).squeeze(1).mul_(oneMinusAlpha);
        var qt = pt.neg().add_(ScalarConstants.One, ScalarConstants.One);
        var spNeg = Softplus(xt.neg());
        var mq = Pow(qt);
        var l1 = mq.mul(spNeg).mul_(alpha);
        var positive = level.PositiveMask;
        var levelSum = rowLoss.mul_(oneMinusAlpha).add_(torch.where(positive, l1.sub(l0), torch.zeros_like(l1)), ScalarConstants.One).mul_(w).sum();

        // dℓ0/dx / (1-α) = γ·t·(1-p) + p^γ·p, built in t's buffer.
        m.mul_(p);
        p.neg_().add_(ScalarConstants.One, ScalarConstants.One);
        var grad = t.mul_(p).mul_(gamma).add_(m, ScalarConstants.One);
        grad.mul_(w.mul(oneMinusAlpha).mul_(scale).unsqueeze(1));
        var g1 = pt.mul(spNeg).mul_(gamma).add_(qt, ScalarConstants.One).mul_(mq).mul_(alpha).neg_().mul_(w).mul_(scale);
        var current = grad.gather(1, index).squeeze(1);
        grad.scatter_(1, index, torch.where(positive, g1, current).unsqueeze(1));
        return (levelSum, grad);
    }

    /// <summary>
    /// Returns <paramref name="value"/> (no graph) with the precomputed gradients attached: the result
    /// equals value exactly, and its gradient w.r.t. each level's logits is that level's gradient
    /// (through Σ_l x_l·g_l, whose backward is a single multiply).
    /// </summary>
    public static Tensor AttachGradients(PreparedLevel[] levels, Tensor[] grads, Tensor value)
    {
        Tensor? surrogate = null;
        for (int l = 0; l < levels.Length; l++)
        {
            var x = levels[l].Logits;
            if (!x.requires_grad) continue;
            var dot = x.reshape(-1).dot(grads[l].reshape(-1));
            surrogate = surrogate is null ? dot : surrogate.add(dot, ScalarConstants.One);
        }
        return surrogate is null ? value : surrogate.sub(surrogate.detach()).add_(value, ScalarConstants.One);
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
        var valid = level.PositiveMask.logical_and(level.RowWeights.gt(ScalarConstants.Zero));
        var xTarget = x.gather(1, level.LabelsClamped.unsqueeze(1)).squeeze(1);
        var v = Softplus(xTarget.neg()).mul_(level.RowWeights).masked_fill_(valid.logical_not(), ScalarConstants.ZeroDouble);
        return (positives, valid.sum().to(dtype), v.sum());
    }

    /// <summary>
    /// Per-level positive counts, plus (when <paramref name="withNegLogP"/>) the count and sum of
    /// w·(-log p) at the target class that the statistics and HPF's γ need.
    /// </summary>
    public static PositiveCounts CountPositives(PreparedLevel[] prepared, bool withNegLogP)
    {
        int numLevels = prepared.Length;
        var positives = new Tensor[numLevels];
        var counts = withNegLogP ? new Tensor[numLevels] : null;
        var sums = withNegLogP ? new Tensor[numLevels] : null;
        for (int l = 0; l < numLevels; l++)
        {
            if (withNegLogP) (positives[l], counts![l], sums![l]) = TargetNegLogP(prepared[l]);
            else positives[l] = prepared[l].PositiveMask.sum().to(prepared[l].Logits.dtype);
        }
        return new PositiveCounts(torch.stack(positives), counts is null ? null : torch.stack(counts), sums is null ? null : torch.stack(sums));
    }

    /// <summary>
    /// Forward of a loss with fixed hyperparameters: per-level sums from <paramref name="levelSum"/>,
    /// divided by the normaliser, and (optionally) per-level statistics with the fixed γ and α.
    /// </summary>
    public static (Tensor Total, LossStatistics? Stats) ForwardFixed(
        PreparedLevel[] prepared, Func<PreparedLevel, Tensor> levelSum, Tensor? normalizer,
        double gamma, double alpha, bool collectStatistics)
    {
        var counts = CountPositives(prepared, collectStatistics);
        var levelSums = torch.stack(prepared.Select(levelSum).ToArray());
        var norm = Normalizer(normalizer, counts.Positives.sum());
        var total = levelSums.sum().div(norm);
        var stats = collectStatistics ? counts.ToStatistics(gamma, alpha, levelSums.detach().div(norm.detach())) : null;
        return (total, stats);
    }

    /// <summary>Stable binary cross-entropy with logits, elementwise: softplus(x) - x·t.</summary>
    public static Tensor BceWithLogits(Tensor x, Tensor t) => Softplus(x).sub_(x.mul(t));

    /// <summary>The ATSS normaliser max(Σ positives, 1) as a device scalar, or the caller's.</summary>
    public static Tensor Normalizer(Tensor? given, Tensor totalPositives) =>
        given is not null ? given.to(totalPositives.dtype) : totalPositives.clamp_min(ScalarConstants.OneDouble);
}
