namespace HpfDet.Data;

/// <summary>
/// Where one batch image came from and how it was changed, to map predictions back. The transforms
/// compose into a per-axis affine map x_frame = XScale * x_original + XOffset (XScale &lt; 0 after a
/// horizontal flip), and likewise for y.
/// </summary>
public sealed record ImageMeta(
    int DatasetIndex,
    long ImageId,
    int OriginalWidth,
    int OriginalHeight,
    int Width,
    int Height,
    int PaddedWidth,
    int PaddedHeight,
    double XScale,
    double XOffset,
    double YScale,
    double YOffset)
{
    /// <summary>Resize factor along x (resized width / original width).</summary>
    public double ScaleX => Math.Abs(XScale);
    /// <summary>Resize factor along y.</summary>
    public double ScaleY => Math.Abs(YScale);
    /// <summary>True when the image was flipped horizontally.</summary>
    public bool Flipped => XScale < 0;

    /// <summary>
    /// Maps boxes from the batch frame back to the original image, in place. <paramref name="xyxy"/>
    /// is [N, 4] flattened row-major.
    /// </summary>
    public void MapToOriginal(Span<float> xyxy)
    {
        if (xyxy.Length % 4 != 0) throw new ArgumentException($"Expected N*4 values, got {xyxy.Length}.", nameof(xyxy));
        for (var i = 0; i < xyxy.Length; i += 4)
        {
            var x1 = (xyxy[i] - XOffset) / XScale;
            var x2 = (xyxy[i + 2] - XOffset) / XScale;
            var y1 = (xyxy[i + 1] - YOffset) / YScale;
            var y2 = (xyxy[i + 3] - YOffset) / YScale;
            xyxy[i] = (float)Math.Min(x1, x2);
            xyxy[i + 2] = (float)Math.Max(x1, x2);
            xyxy[i + 1] = (float)Math.Min(y1, y2);
            xyxy[i + 3] = (float)Math.Max(y1, y2);
        }
    }
}
