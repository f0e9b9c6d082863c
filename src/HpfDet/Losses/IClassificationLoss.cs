using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Losses;

/// <summary>
/// One pyramid level's classification inputs, as a dense detection head produces them after
/// flattening the batch: every location (anchor or point) of every image of that level is a row.
/// </summary>
/// <param name="Logits">[N_l, C] raw classification scores (float32 or float64).</param>
/// <param name="Labels">[N_l] int64 target class per row; background = C; ignore = -1 (weight forced to 0).</param>
/// <param name="LabelWeights">[N_l] per-row weight multiplying every class of that row; null means 1.</param>
/// <param name="SoftTargets">[N_l] quality target (IoU with the matched box) of positive rows, used by
/// <see cref="QualityFocalLoss"/> and <see cref="VarifocalLoss"/>; ignored by the focal family.</param>
/// <param name="LossScale">[N_l] factor applied to each row's loss and gradient only, never to the
/// statistics (HPF's γ): per-image normalisation, e.g. torchvision RetinaNet's 1 / (B · max(1, positives
/// of the row's image)) with a normaliser of 1. Null means 1.</param>
public sealed record ClassificationLevelInput(Tensor Logits, Tensor Labels, Tensor? LabelWeights = null, Tensor? SoftTargets = null, Tensor? LossScale = null);

/// <summary>
/// A classification loss for dense detectors. It receives the inputs level by level (HPF needs the
/// levels), sums the per-level losses and divides by a normaliser, so any head can use any loss.
/// </summary>
public interface IClassificationLoss
{
    /// <summary>Short name for logs ("fl", "hpf", "qfl", "vfl").</summary>
    string Name { get; }

    /// <summary>
    /// Σ_l loss_l / normalizer, a scalar in the logits' dtype with a graph to the logits.
    /// </summary>
    /// <param name="levels">One entry per pyramid level (empty levels with N_l = 0 are allowed).</param>
    /// <param name="normalizer">Scalar tensor; null means max(number of positive rows over all levels, 1),
    /// the ATSS normaliser. Computed on the device, never read back.</param>
    Tensor Forward(IReadOnlyList<ClassificationLevelInput> levels, Tensor? normalizer = null);

    /// <summary>
    /// Per-level statistics of the last <see cref="Forward"/> call, kept as detached device tensors so
    /// that reading them is the caller's choice (and the caller's synchronisation). Valid until the
    /// next call or until the loss is disposed; call <see cref="LossStatistics.ToHost"/> to keep them.
    /// </summary>
    LossStatistics? LastStatistics { get; }
}

/// <summary>When the losses check their logits for NaN and Inf.</summary>
public enum FiniteCheck
{
    /// <summary>Check tensors that live on the CPU (no device synchronisation there); skip on accelerators,
    /// where the trainer checks the loss value instead.</summary>
    OnCpu,
    /// <summary>Always check (one host synchronisation per call on an accelerator).</summary>
    Always,
    /// <summary>Never check.</summary>
    Never,
}
