using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Data;

/// <summary>
/// One collated batch: images padded to a common size (a multiple of the size divisor, zeros in the
/// padding after normalisation), per-image targets in the batch frame, and the meta to map
/// predictions back. Owns its tensors: dispose it when the step is done.
/// </summary>
public sealed class DetectionBatch : IDisposable
{
    internal DetectionBatch(Tensor images, IReadOnlyList<Tensor> boxes, IReadOnlyList<Tensor> labels, IReadOnlyList<Tensor> ignored, IReadOnlyList<ImageMeta> meta)
    {
        Images = images;
        Boxes = boxes;
        Labels = labels;
        Ignored = ignored;
        Meta = meta;
    }

    /// <summary>[B, 3, H, W] float32, normalised.</summary>
    public Tensor Images { get; }
    /// <summary>Per image [n_i, 4] float32 xyxy in the resized/padded frame.</summary>
    public IReadOnlyList<Tensor> Boxes { get; }
    /// <summary>Per image [n_i] int64 class indices.</summary>
    public IReadOnlyList<Tensor> Labels { get; }
    /// <summary>Per image [n_i] bool: crowd or difficult boxes (neither positive nor miss).</summary>
    public IReadOnlyList<Tensor> Ignored { get; }
    /// <summary>Per image: original size, scale factors, flip, padded size.</summary>
    public IReadOnlyList<ImageMeta> Meta { get; }
    public int Count => Meta.Count;

    public void Dispose()
    {
        Images.Dispose();
        foreach (var t in Boxes) t.Dispose();
        foreach (var t in Labels) t.Dispose();
        foreach (var t in Ignored) t.Dispose();
    }
}
