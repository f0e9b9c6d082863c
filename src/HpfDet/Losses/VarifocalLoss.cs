using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Losses;

/// <summary>Options of <see cref="VarifocalLoss"/>.</summary>
/// <param name="Alpha">α weighting the negatives' focal term.</param>
/// <param name="Gamma">γ of the negatives' focal term.</param>
/// <param name="CollectStatistics">Compute per-level positives and mean -log p for logging.</param>
/// <param name="FiniteCheck">When to check the logits for NaN/Inf.</param>
public sealed record VarifocalLossOptions(double Alpha = 0.75, double Gamma = 2.0, bool CollectStatistics = true, FiniteCheck FiniteCheck = FiniteCheck.OnCpu);

/// <summary>
/// Varifocal loss (VFNet, IoU-weighted): with target q (the IoU at a positive row's class, 0
/// elsewhere), loss = BCE(x, q)·(q where q &gt; 0, else α·|σ(x) - q|^γ), summed, weighted per row and
/// divided by the normaliser. Positives are weighted by their quality, negatives are focal-down-weighted.
/// </summary>
public sealed class VarifocalLoss : IClassificationLoss, IDisposable
{
    public VarifocalLossOptions Options { get; }
    public string Name => LossNames.Varifocal;
    public LossStatistics? LastStatistics => statistics.Current;
    readonly StatisticsSlot statistics = new();

    public VarifocalLoss(VarifocalLossOptions? options = null)
    {
        Options = options ?? new VarifocalLossOptions();
        if (!(Options.Gamma >= 0)) throw new ArgumentOutOfRangeException(nameof(options), $"Gamma must be >= 0, got {Options.Gamma}.");
        if (!(Options.Alpha >= 0)) throw new ArgumentOutOfRangeException(nameof(options), $"Alpha must be >= 0, got {Options.Alpha}.");
    }

    /// <inheritdoc />
    public Tensor Forward(IReadOnlyList<ClassificationLevelInput> levels, Tensor? normalizer = null)
    {
        var prepared = LossMath.Prepare("VarifocalLoss", levels, needsSoftTargets: true, Options.FiniteCheck);
        var (total, stats) = LossMath.ForwardFixed(prepared, LevelSum, normalizer, Options.Gamma, Options.Alpha, Options.CollectStatistics);
        statistics.Replace(stats);
        return total;
    }

    Tensor LevelSum(PreparedLevel level)
    {
        var x = level.Logits;
        var target = level.TargetMask.to(x.dtype).mul_(level.SoftTargets!.unsqueeze(1));   // [N, C]
        using var gamma = Options.Gamma.ToScalar();
        using var alpha = Options.Alpha.ToScalar();
        var isPositive = target.gt(ScalarConstants.Zero);
        var negativeWeight = torch.sigmoid(x).sub(target).abs().pow(gamma).mul(alpha);
        var weight = torch.where(isPositive, target, negativeWeight);
        return LossMath.BceWithLogits(x, target).mul_(weight).sum(1).mul_(level.LossWeights).sum();
    }

    public void Dispose() => statistics.Dispose();
}
