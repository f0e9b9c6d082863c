namespace HpfDet.Data.Transforms;

/// <summary>
/// YOLOF's translation augmentation (mmdetection 2.x's RandomShift): with probability <see cref="Probability"/>
/// the image content moves by whole pixels (dx, dy), each drawn uniformly from [-MaxShift, MaxShift], inside
/// the same canvas; uncovered pixels are black, as in the reference (the shift comes before normalisation).
/// Boxes move with it and are clipped to the image; a box whose clipped width or height is not above
/// <see cref="MinBoxSide"/> pixels leaves the sample. A shift that would leave no box to learn from (none that
/// is not ignored) keeps the image as it was.
/// </summary>
public sealed class RandomShift : IDetectionTransform
{
    public RandomShift(int maxShift = 32, double probability = 0.5, float minBoxSide = 1)
    {
        if (maxShift < 0) throw new ArgumentOutOfRangeException(nameof(maxShift), $"The largest shift must be >= 0 pixels, got {maxShift}.");
        if (probability is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(probability), $"The probability must be in [0, 1], got {probability}.");
        MaxShift = maxShift;
        Probability = probability;
        MinBoxSide = minBoxSide;
    }

    public int MaxShift { get; }
    public double Probability { get; }
    public float MinBoxSide { get; }

    public void Apply(TransformSample sample, Random rng)
    {
        if (MaxShift == 0 || rng.NextDouble() >= Probability) return;
        int dx = rng.Next(-MaxShift, MaxShift + 1), dy = rng.Next(-MaxShift, MaxShift + 1);
        Shift(sample, dx, dy, MinBoxSide);
    }

    /// <summary>Moves the image content and the boxes by (dx, dy) pixels; false (sample unchanged) when no box would be left.</summary>
    public static bool Shift(TransformSample sample, int dx, int dy, float minBoxSide = 1)
    {
        var image = sample.Image;
        int w = image.Width, h = image.Height;
        var b = sample.Boxes;
        var keep = new List<int>();
        var moved = new float[b.Length];
        for (int i = 0; i < sample.BoxCount; i++)
        {
            float x1 = Math.Clamp(b[4 * i] + dx, 0, w), y1 = Math.Clamp(b[4 * i + 1] + dy, 0, h);
            float x2 = Math.Clamp(b[4 * i + 2] + dx, 0, w), y2 = Math.Clamp(b[4 * i + 3] + dy, 0, h);
            (moved[4 * i], moved[4 * i + 1], moved[4 * i + 2], moved[4 * i + 3]) = (x1, y1, x2, y2);
            if (x2 - x1 > minBoxSide && y2 - y1 > minBoxSide) keep.Add(i);
        }
        // The reference skips the shift when it would leave the image without a box to learn from
        // (ignored boxes do not count; an image without boxes is not shifted either).
        if (!keep.Any(i => !sample.Ignored[i])) return false;

        var shifted = new ImageBuffer(w, h);
        var alpha = shifted.Rgba;
        for (int p = 3; p < alpha.Length; p += 4) alpha[p] = 255;
        // Rows and columns of the source that stay inside the canvas.
        int srcX = Math.Max(0, -dx), dstX = Math.Max(0, dx), width = w - Math.Abs(dx);
        int srcY = Math.Max(0, -dy), dstY = Math.Max(0, dy), height = h - Math.Abs(dy);
        if (width > 0 && height > 0)
            for (int y = 0; y < height; y++)
                Array.Copy(image.Rgba, ((srcY + y) * w + srcX) * 4, shifted.Rgba, ((dstY + y) * w + dstX) * 4, width * 4);
        sample.Image = shifted;

        var boxes = new float[keep.Count * 4];
        for (int k = 0; k < keep.Count; k++) Array.Copy(moved, 4 * keep[k], boxes, 4 * k, 4);
        sample.Boxes = boxes;
        sample.Labels = keep.Select(i => sample.Labels[i]).ToArray();
        sample.Ignored = keep.Select(i => sample.Ignored[i]).ToArray();
        sample.XOffset += dx;
        sample.YOffset += dy;
        return true;
    }
}
