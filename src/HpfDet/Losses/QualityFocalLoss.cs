using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Losses;

/// <summary>Options of <see cref="QualityFocalLoss"/>.</summary>
/// <param name="Beta">β of the modulating factor |y - σ|^β.</param>
/// <param name="CollectStatistics">Compute per-level positives and mean -log p for logging.</param>
/// <param name="FiniteCheck">When to check the logits for NaN/Inf.</param>
public sealed record QualityFocalLossOptions(double Beta = 2.0, bool CollectStatistics = true, FiniteCheck FiniteCheck = FiniteCheck.OnCpu);

/// <summary>
/// Quality focal loss (GFL): the target of a positive row's class is its IoU quality y (soft
/// target), every other entry's target is 0; loss = BCE(x, y)·|y - σ(x)|^β, summed, weighted per
/// row and divided by the normaliser. The modulating factor keeps its gradient, as in GFL.
/// </summary>
public sealed class QualityFocalLoss : IClassificationLoss, IDisposable
{
    public QualityFocalLossOptions Options { get; }
    public string Name => LossNames.QualityFocal;
    /// <summary>Statistics with γ = β and α = NaN (QFL has no α).</summary>
    public LossStatistics? LastStatistics => statistics.Current;
    readonly StatisticsSlot statistics = new();

    public QualityFocalLoss(QualityFocalLossOptions? options = null)
    {
        Options = options ?? new QualityFocalLossOptions();
        if (!(Options.Beta >= 0)) throw new ArgumentOutOfRangeException(nameof(options), $"Beta must be >= 0, got {Options.Beta}.");
    }

    /// <inheritdoc />
    public Tensor Forward(IReadOnlyList<ClassificationLevelInput> levels, Tensor? normalizer = null)
    {
        var prepared = LossMath.Prepare("QualityFocalLoss", levels, needsSoftTargets: true, Options.FiniteCheck);
        var (total, stats) = LossMath.ForwardFixed(prepared, LevelSum, normalizer, Options.Beta, double.NaN, Options.CollectStatistics);
        statistics.Replace(stats);
        return total;
    }

    Tensor LevelSum(PreparedLevel level)
    {
        var x = level.Logits;
        var target = level.TargetMask.to(x.dtype).mul_(level.SoftTargets!.unsqueeze(1));   // [N, C]
        var distance = target.sub(torch.sigmoid(x)).abs();
        using var beta = Options.Beta.ToScalar();
        var modulating = distance.pow(Options.Beta == 2.0 ? ScalarConstants.Two : beta);
        return LossMath.BceWithLogits(x, target).mul_(modulating).sum(1).mul_(level.LossWeights).sum();
    }

    public void Dispose() => statistics.Dispose();
}
