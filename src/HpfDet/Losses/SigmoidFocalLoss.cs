using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Losses;

/// <summary>Options of <see cref="SigmoidFocalLoss"/>.</summary>
/// <param name="Gamma">Focusing parameter γ.</param>
/// <param name="Alpha">Weight α of the positive class (1-α for negatives).</param>
/// <param name="CollectStatistics">Compute per-level positives and mean -log p for logging (a few
/// small extra ops per level; no synchronisation).</param>
/// <param name="FiniteCheck">When to check the logits for NaN/Inf.</param>
public sealed record SigmoidFocalLossOptions(double Gamma = 2.0, double Alpha = 0.25, bool CollectStatistics = true, FiniteCheck FiniteCheck = FiniteCheck.OnCpu);

/// <summary>
/// Sigmoid focal loss FL = -α_t (1-p_t)^γ log(p_t), summed over rows and classes, weighted per row
/// and divided by the normaliser. Computed as α_t·σ(s)^γ·softplus(s) with s = (1-2t)x, which is
/// finite for any finite logit.
/// </summary>
public sealed class SigmoidFocalLoss : IClassificationLoss, IDisposable
{
    public SigmoidFocalLossOptions Options { get; }
    public string Name => LossNames.Focal;
    public LossStatistics? LastStatistics => statistics.Current;
    readonly StatisticsSlot statistics = new();

    public SigmoidFocalLoss(SigmoidFocalLossOptions? options = null)
    {
        Options = options ?? new SigmoidFocalLossOptions();
        if (!(Options.Gamma >= 0)) throw new ArgumentOutOfRangeException(nameof(options), $"Gamma must be >= 0, got {Options.Gamma}.");
        if (!(Options.Alpha is >= 0 and <= 1)) throw new ArgumentOutOfRangeException(nameof(options), $"Alpha must be in [0, 1], got {Options.Alpha}.");
    }

    /// <inheritdoc />
    public Tensor Forward(IReadOnlyList<ClassificationLevelInput> levels, Tensor? normalizer = null)
    {
        var prepared = LossMath.Prepare("SigmoidFocalLoss", levels, needsSoftTargets: false, Options.FiniteCheck);
        var dtype = prepared[0].Logits.dtype;
        var device = prepared[0].Logits.device;
        var counts = LossMath.CountPositives(prepared, Options.CollectStatistics);
        var norm = LossMath.Normalizer(normalizer, counts.Positives.sum()).detach();
        var scale = norm.reciprocal();
        var gamma = torch.tensor(Options.Gamma, dtype: dtype, device: device);
        var alpha = torch.tensor(Options.Alpha, dtype: dtype, device: device);
        var levelSums = new Tensor[prepared.Length];
        var grads = new Tensor[prepared.Length];
        for (int l = 0; l < prepared.Length; l++)
            (levelSums[l], grads[l]) = LossMath.FocalSumAndGradient(prepared[l], gamma, alpha, Options.Gamma, scale);
        var levelLoss = torch.stack(levelSums).mul_(scale);
        var total = LossMath.AttachGradients(prepared, grads, levelLoss.sum());
        if (Options.CollectStatistics) statistics.Replace(counts.ToStatistics(Options.Gamma, Options.Alpha, levelLoss));
        return total;
    }

    /// <summary>
    /// Unreduced focal loss for explicit targets.
    /// </summary>
    /// <param name="logits">[N, C]</param>
    /// <param name="targets">[N, C] with values 0 or 1.</param>
    /// <returns>[N, C] loss per element.</returns>
    public static Tensor Elementwise(Tensor logits, Tensor targets, double gamma = 2.0, double alpha = 0.25)
    {
        using var minusTwo = (-2).ToScalar();
        using var alphaSlope = (2 * alpha - 1).ToScalar();
        using var oneMinusAlpha = (1 - alpha).ToScalar();
        using var exponent = gamma.ToScalar();
        var t = targets.to(logits.dtype);
        var s = t.mul(minusTwo).add_(ScalarConstants.One, ScalarConstants.One).mul_(logits);
        var alphaT = t.mul(alphaSlope).add_(oneMinusAlpha, ScalarConstants.One);
        return alphaT.mul_(torch.sigmoid(s).pow(exponent)).mul_(LossMath.Softplus(s));
    }

    public void Dispose() => statistics.Dispose();
}
