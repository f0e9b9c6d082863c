using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Models;

/// <summary>Ground truth of one image for training, in the network input's pixel frame.</summary>
/// <param name="Boxes">[G, 4] float32 xyxy.</param>
/// <param name="Labels">[G] int64 class indices in [0, C).</param>
/// <param name="IsCrowd">[G] bool, crowd regions (ignored by the assigner); null means none.</param>
public sealed record DetectionTarget(Tensor Boxes, Tensor Labels, Tensor? IsCrowd = null);

/// <summary>Detections of one image.</summary>
/// <param name="Boxes">[K, 4] float32 xyxy.</param>
/// <param name="Scores">[K] float32, descending.</param>
/// <param name="Labels">[K] int64 class indices.</param>
public sealed record Detections(Tensor Boxes, Tensor Scores, Tensor Labels) : IDisposable
{
    public long Count => Scores.shape[0];

    public void Dispose()
    {
        Boxes.Dispose();
        Scores.Dispose();
        Labels.Dispose();
    }
}

/// <summary>The losses of one training step; <see cref="Total"/> is what to back-propagate.</summary>
/// <param name="Classification">The classification loss (focal, HPF, QFL or VFL), normalised by the positives.</param>
/// <param name="Box">GIoU loss weighted by centerness targets, times its loss weight.</param>
/// <param name="Centerness">Binary cross-entropy of the centerness, normalised by the positives.</param>
/// <param name="NumPositives">Positive anchors over the batch (0-dim, on the device).</param>
public sealed record DetectionLosses(Tensor Classification, Tensor Box, Tensor Centerness, Tensor NumPositives)
{
    public Tensor Total => Classification.add(Box, ScalarConstants.One).add(Centerness, ScalarConstants.One);
}
