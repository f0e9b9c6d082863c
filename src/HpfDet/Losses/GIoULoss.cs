using HpfDet.Boxes;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Losses;

/// <summary>
/// Generalised IoU loss, 1 - GIoU(pred, target), for aligned box pairs (xyxy). Weighted per pair and
/// divided by a normaliser; multiplied by <see cref="LossWeight"/> (ATSS uses 2).
/// </summary>
public sealed class GIoULoss
{
    public double LossWeight { get; }
    public double Eps { get; }
    public GIoUEps EpsMode { get; }

    /// <param name="lossWeight">Multiplies the loss.</param>
    /// <param name="eps">Guards the divisions (mmdetection 1e-6 clamped; torchvision 1e-7 added).</param>
    /// <param name="epsMode">Whether eps is a lower clamp or added to the denominators.</param>
    public GIoULoss(double lossWeight = 1.0, double eps = 1e-6, GIoUEps epsMode = GIoUEps.Clamp)
    {
        EpsMode = epsMode;
        if (!(lossWeight >= 0)) throw new ArgumentOutOfRangeException(nameof(lossWeight), $"LossWeight must be >= 0, got {lossWeight}.");
        LossWeight = lossWeight;
        Eps = eps;
    }

    /// <summary>
    /// LossWeight · Σ weight·(1 - GIoU) / normalizer.
    /// </summary>
    /// <param name="pred">[N, 4] predicted boxes.</param>
    /// <param name="target">[N, 4] target boxes.</param>
    /// <param name="weight">[N] per-pair weight; null means 1.</param>
    /// <param name="normalizer">Scalar tensor; null means the number of pairs (at least 1).</param>
    public Tensor Forward(Tensor pred, Tensor target, Tensor? weight = null, Tensor? normalizer = null)
    {
        if (pred.dim() != 2 || pred.shape[1] != 4 || !pred.shape.SequenceEqual(target.shape))
            throw new ArgumentException($"GIoULoss: pred shape [{string.Join(", ", pred.shape)}] and target shape [{string.Join(", ", target.shape)}] must both be [N, 4].");
        if (weight is not null && (weight.dim() != 1 || weight.shape[0] != pred.shape[0]))
            throw new ArgumentException($"GIoULoss: weight shape [{string.Join(", ", weight.shape)}] does not match pred shape [{string.Join(", ", pred.shape)}]; expected [N].");
        var loss = BoxOps.AlignedGIoU(pred, target, Eps, EpsMode).neg().add(ScalarConstants.OneDouble, ScalarConstants.One);
        if (weight is not null) loss = loss.mul(weight);
        var norm = normalizer ?? torch.tensor((double)Math.Max(pred.shape[0], 1), dtype: pred.dtype, device: pred.device);
        using var lossWeight = LossWeight.ToScalar();
        return loss.sum().div(norm).mul(lossWeight);
    }
}
