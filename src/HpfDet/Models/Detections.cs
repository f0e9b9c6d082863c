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

    /// <summary>
    /// Maps boxes from the network input frame back to the original image: undo a horizontal flip of
    /// the resized image (width <paramref name="resizedWidth"/>), divide by the resize factors, clip.
    /// </summary>
    public Detections ToOriginal(double scaleX, double scaleY, int originalWidth, int originalHeight, bool flipped = false, double resizedWidth = 0)
    {
        var b = Boxes;
        if (flipped)
            b = torch.stack([b[.., 2].neg().add(resizedWidth), b[.., 1], b[.., 0].neg().add(resizedWidth), b[.., 3]], 1);
        var scale = torch.tensor(new[] { (float)scaleX, (float)scaleY, (float)scaleX, (float)scaleY }, device: b.device);
        b = b.div(scale);
        b = torch.stack([b[.., 0].clamp(0, originalWidth), b[.., 1].clamp(0, originalHeight), b[.., 2].clamp(0, originalWidth), b[.., 3].clamp(0, originalHeight)], 1);
        return new Detections(b, Scores, Labels);
    }

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
    public Tensor Total => Classification.add(Box).add(Centerness);
}
