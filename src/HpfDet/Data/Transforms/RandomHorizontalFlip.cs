using System.Runtime.InteropServices;

namespace HpfDet.Data.Transforms;

/// <summary>Mirrors the image left-right with probability <see cref="Probability"/>; x1' = W - x2, x2' = W - x1.</summary>
public sealed class RandomHorizontalFlip(double probability = 0.5) : IDetectionTransform
{
    public double Probability { get; } = probability;

    public void Apply(TransformSample sample, Random rng)
    {
        if (rng.NextDouble() >= Probability) return;
        Flip(sample);
    }

    internal static void Flip(TransformSample sample)
    {
        var image = sample.Image;
        var w = image.Width;
        var flipped = new ImageBuffer(w, image.Height);
        var src = MemoryMarshal.Cast<byte, int>(image.Rgba.AsSpan());
        var dst = MemoryMarshal.Cast<byte, int>(flipped.Rgba.AsSpan());
        for (var y = 0; y < image.Height; y++)
        {
            src.Slice(y * w, w).CopyTo(dst.Slice(y * w, w));
            dst.Slice(y * w, w).Reverse();
        }
        sample.Image = flipped;
        var b = sample.Boxes;
        for (var i = 0; i < b.Length; i += 4)
            (b[i], b[i + 2]) = (w - b[i + 2], w - b[i]);
        sample.XScale = -sample.XScale;
        sample.XOffset = w - sample.XOffset;
    }
}
