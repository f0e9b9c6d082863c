using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Losses;

/// <summary>Where HPF takes the positives its γ is the mean of.</summary>
public enum ProgressiveFocusScope
{
    /// <summary>One γ_l per pyramid level from that level's positives (hierarchical sampling; the method).</summary>
    PerLevel,
    /// <summary>One γ from the positives of all levels together, used at every level (progressive focus
    /// without hierarchical sampling; an ablation).</summary>
    AllLevels,
}

/// <summary>Options of <see cref="HierarchicalProgressiveFocalLoss"/>.</summary>
/// <param name="Gamma0">γ0, the centre of the allowed γ range and the value for a level without positives.</param>
/// <param name="Delta">δ: γ is clamped to [γ0-δ, γ0+δ].</param>
/// <param name="W">w in α = w/γ.</param>
/// <param name="Scope">Per level (the method) or all levels together (ablation).</param>
public sealed record HierarchicalProgressiveFocalLossOptions(
    double Gamma0 = 2.0,
    double Delta = 0.5,
    double W = 0.5,
    ProgressiveFocusScope Scope = ProgressiveFocusScope.PerLevel,
    FiniteCheck FiniteCheck = FiniteCheck.OnCpu);

/// <summary>
/// Hierarchical Progressive Focus (HPF). Per level l and per call:
/// <list type="number">
/// <item>v = w_row · (-log σ(x_target)) = w_row · softplus(-x_target) at the target class of each
/// positive row with weight &gt; 0;</item>
/// <item>γ_l = clamp(mean of v over level l, γ0-δ, γ0+δ), or γ0 where level l has no such row;</item>
/// <item>α_l = w / γ_l;</item>
/// <item>loss = Σ_l Σ w_row · FL(x; γ_l, α_l) / max(positive rows over all levels, 1).</item>
/// </list>
/// γ_l and α_l are computed without gradient and stay on the device: the call never synchronises.
/// </summary>
public sealed class HierarchicalProgressiveFocalLoss : IClassificationLoss, IDisposable
{
    public HierarchicalProgressiveFocalLossOptions Options { get; }
    public string Name => LossNames.Hpf;
    public LossStatistics? LastStatistics => statistics.Current;
    readonly StatisticsSlot statistics = new();

    public HierarchicalProgressiveFocalLoss(HierarchicalProgressiveFocalLossOptions? options = null)
    {
        Options = options ?? new HierarchicalProgressiveFocalLossOptions();
        if (!(Options.Delta >= 0)) throw new ArgumentOutOfRangeException(nameof(options), $"Delta must be >= 0, got {Options.Delta}.");
        if (!(Options.Gamma0 - Options.Delta > 0)) throw new ArgumentOutOfRangeException(nameof(options), $"Gamma0 - Delta must be > 0 (α = w/γ), got {Options.Gamma0} - {Options.Delta}.");
        if (!(Options.W > 0)) throw new ArgumentOutOfRangeException(nameof(options), $"W must be > 0, got {Options.W}.");
    }

    /// <inheritdoc />
    public Tensor Forward(IReadOnlyList<ClassificationLevelInput> levels, Tensor? normalizer = null)
    {
        var prepared = LossMath.Prepare("HierarchicalProgressiveFocalLoss", levels, needsSoftTargets: false, Options.FiniteCheck);
        int numLevels = prepared.Length;
        var positives = LossMath.CountPositives(prepared, withNegLogP: true);

        Tensor gamma, alpha, meanNegLogP;   // [L] each
        using (torch.no_grad())
        {
            var count = positives.NegLogPCount!;
            var sum = positives.NegLogPSum!;
            meanNegLogP = sum.div(count);
            if (Options.Scope == ProgressiveFocusScope.AllLevels)
            {
                count = count.sum().expand(numLevels);
                sum = sum.sum().expand(numLevels);
            }
            // A level without positives gets γ0: the clamped mean is blended out by hasPositives = 0
            // (the mean itself is 0 there, not NaN, thanks to the clamp of the count).
            using var gammaMin = (Options.Gamma0 - Options.Delta).ToScalar();
            using var gammaMax = (Options.Gamma0 + Options.Delta).ToScalar();
            using var gamma0 = Options.Gamma0.ToScalar();
            using var w = Options.W.ToScalar();
            var hasPositives = count.gt(ScalarConstants.Zero).to(sum.dtype);
            var mean = sum.div(count.clamp_min(ScalarConstants.OneDouble));
            gamma = mean.clamp(gammaMin, gammaMax)
                .mul_(hasPositives).add_(hasPositives.neg().add_(ScalarConstants.One, ScalarConstants.One).mul_(gamma0), ScalarConstants.One);
            alpha = gamma.reciprocal().mul_(w);
        }

        var norm = LossMath.Normalizer(normalizer, positives.Positives.sum()).detach();
        var scale = norm.reciprocal();
        // On the CPU, reading γ_l waits for nothing (operations there are synchronous) and lets the
        // power use libtorch's scalar-exponent kernel; on an accelerator γ_l stays on the device.
        double[]? hostGamma = gamma.device_type == DeviceType.CPU ? gamma.to(ScalarType.Float64).data<double>().ToArray() : null;
        var levelSums = new Tensor[numLevels];
        var grads = new Tensor[numLevels];
        for (int l = 0; l < numLevels; l++)
            (levelSums[l], grads[l]) = LossMath.FocalSumAndGradient(prepared[l], gamma[l], alpha[l], hostGamma?[l], scale);
        var levelLoss = torch.stack(levelSums).mul_(scale);
        var total = LossMath.AttachGradients(prepared, grads, levelLoss.sum());

        statistics.Replace(new LossStatistics(gamma, alpha, positives.Positives, meanNegLogP, levelLoss));
        return total;
    }

    public void Dispose() => statistics.Dispose();
}
