using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Losses;

/// <summary>
/// Per-level statistics of one loss call, as detached tensors of shape [L] on the logits' device.
/// Owned by the loss that produced them: disposed when the loss computes the next ones.
/// </summary>
public sealed class LossStatistics : IDisposable
{
    /// <summary>[L] focusing parameter γ_l used at each level (the fixed γ for focal loss).</summary>
    public Tensor Gamma { get; }
    /// <summary>[L] balance α_l used at each level.</summary>
    public Tensor Alpha { get; }
    /// <summary>[L] number of positive rows (labels in [0, C)) per level.</summary>
    public Tensor Positives { get; }
    /// <summary>[L] mean of w·(-log σ(x_target)) over the positives with weight &gt; 0 (NaN where none).</summary>
    public Tensor MeanNegLogP { get; }
    /// <summary>[L] each level's share of the returned loss: its weighted sum divided by the normaliser.</summary>
    public Tensor LevelLoss { get; }

    internal LossStatistics(Tensor gamma, Tensor alpha, Tensor positives, Tensor meanNegLogP, Tensor levelLoss)
    {
        Gamma = Keep(gamma);
        Alpha = Keep(alpha);
        Positives = Keep(positives);
        MeanNegLogP = Keep(meanNegLogP);
        LevelLoss = Keep(levelLoss);
    }

    static Tensor Keep(Tensor t)
    {
        var d = t.detach().to(ScalarType.Float64);
        d.DetachFromDisposeScope();
        return d;
    }

    /// <summary>Copies the statistics to the host (one synchronisation).</summary>
    public LevelStatisticsSnapshot ToHost()
    {
        using var all = torch.stack([Gamma, Alpha, Positives, MeanNegLogP, LevelLoss]).cpu();
        var v = all.data<double>().ToArray();
        int l = (int)Gamma.shape[0];
        return new LevelStatisticsSnapshot(
            v[..l], v[l..(2 * l)], v[(2 * l)..(3 * l)].Select(x => (long)Math.Round(x)).ToArray(),
            v[(3 * l)..(4 * l)], v[(4 * l)..]);
    }

    public void Dispose()
    {
        Gamma.Dispose();
        Alpha.Dispose();
        Positives.Dispose();
        MeanNegLogP.Dispose();
        LevelLoss.Dispose();
    }
}

/// <summary>Host copy of <see cref="LossStatistics"/>, one entry per level.</summary>
public sealed record LevelStatisticsSnapshot(double[] Gamma, double[] Alpha, long[] Positives, double[] MeanNegLogP, double[] LevelLoss);
