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
    static long undisposedTensors;
    int disposed;

    internal DetectionBatch(Tensor images, IReadOnlyList<Tensor> boxes, IReadOnlyList<Tensor> labels, IReadOnlyList<Tensor> ignored, IReadOnlyList<ImageMeta> meta)
    {
        Images = images;
        Boxes = boxes;
        Labels = labels;
        Ignored = ignored;
        Meta = meta;
        Interlocked.Add(ref undisposedTensors, TensorCount);
    }

    /// <summary>
    /// Tensors of all batches in the process not yet disposed (those the loaders have prepared ahead and
    /// the one in use): the trainer leaves them out of its live-tensor count, which would otherwise move
    /// with how far the loader threads have run ahead.
    /// </summary>
    internal static long UndisposedTensorCount => Interlocked.Read(ref undisposedTensors);

    int TensorCount => 1 + Boxes.Count + Labels.Count + Ignored.Count;

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
        if (Interlocked.Exchange(ref disposed, 1) != 0) return;
        Interlocked.Add(ref undisposedTensors, -TensorCount);
        Images.Dispose();
        foreach (var t in Boxes) t.Dispose();
        foreach (var t in Labels) t.Dispose();
        foreach (var t in Ignored) t.Dispose();
    }
}
