using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Losses;

/// <summary>
/// Distribution focal loss (GFL): for a target distance y between the integer bins i = ⌊y⌋ and i + 1,
/// the cross-entropies of the predicted distribution at both bins weighted by closeness,
/// (i + 1 - y)·CE(logits, i) + (y - i)·CE(logits, i + 1). It pulls the probability mass onto the two
/// bins around y, whose expectation is y. Weighted per row, summed and divided by the normaliser,
/// times <see cref="LossWeight"/> (GFL: 0.25).
/// </summary>
public sealed class DistributionFocalLoss
{
    public double LossWeight { get; }

    /// <param name="lossWeight">Multiplies the loss.</param>
    public DistributionFocalLoss(double lossWeight = 0.25)
    {
        if (!(lossWeight >= 0)) throw new ArgumentOutOfRangeException(nameof(lossWeight), $"LossWeight must be >= 0, got {lossWeight}.");
        LossWeight = lossWeight;
    }

    /// <summary>
    /// The unweighted loss of each row: <paramref name="logits"/> [M, R+1] over bins 0 … R and
    /// <paramref name="targets"/> [M] in [0, R] → [M]. A target of exactly R takes bin R alone.
    /// </summary>
    public static Tensor Elementwise(Tensor logits, Tensor targets)
    {
        if (logits.dim() != 2 || targets.dim() != 1 || targets.shape[0] != logits.shape[0])
            throw new ArgumentException($"DistributionFocalLoss: logits [{string.Join(", ", logits.shape)}] and targets [{string.Join(", ", targets.shape)}] must be [M, R+1] and [M].");
        using var scope = NewDisposeScope();
        using var lastBin = (logits.shape[1] - 1).ToScalar();
        targets = targets.to(logits.dtype);
        var left = targets.floor().clamp_max(lastBin).to(ScalarType.Int64);
        var right = left.add(ScalarConstants.One, ScalarConstants.One).clamp_max(lastBin);
        var weightRight = targets.sub(left.to(logits.dtype));
        var weightLeft = weightRight.neg().add(ScalarConstants.One, ScalarConstants.One);
        var logProbabilities = nn.functional.log_softmax(logits, 1);
        var ceLeft = logProbabilities.gather(1, left.unsqueeze(1)).squeeze(1).neg();
        var ceRight = logProbabilities.gather(1, right.unsqueeze(1)).squeeze(1).neg();
        return ceLeft.mul(weightLeft).add(ceRight.mul(weightRight), ScalarConstants.One).MoveToOuterDisposeScope();
    }

    /// <summary>LossWeight · Σ weight·DFL / normalizer.</summary>
    /// <param name="logits">[M, R+1] distribution logits.</param>
    /// <param name="targets">[M] target distances in bins.</param>
    /// <param name="weight">[M] per-row weight; null means 1.</param>
    /// <param name="normalizer">0-dim tensor; null means the number of rows (at least 1).</param>
    public Tensor Forward(Tensor logits, Tensor targets, Tensor? weight = null, Tensor? normalizer = null)
    {
        if (weight is not null && (weight.dim() != 1 || weight.shape[0] != logits.shape[0]))
            throw new ArgumentException($"DistributionFocalLoss: weight shape [{string.Join(", ", weight.shape)}] does not match logits [{string.Join(", ", logits.shape)}]; expected [M].");
        using var scope = NewDisposeScope();
        var loss = Elementwise(logits, targets);
        if (weight is not null) loss = loss.mul(weight);
        var norm = normalizer ?? torch.tensor((double)Math.Max(logits.shape[0], 1), dtype: logits.dtype, device: logits.device);
        using var lossWeight = LossWeight.ToScalar();
        return loss.sum().div(norm).mul(lossWeight).MoveToOuterDisposeScope();
    }
}
