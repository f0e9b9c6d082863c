namespace HpfDet.Data;

/// <summary>
/// A decoded image: 8-bit RGBA, rows top to bottom, alpha always 255 (transparency is dropped at
/// decode). RGBA rather than RGB because it is SkiaSharp's native layout: resizing needs no copy.
/// </summary>
public sealed class ImageBuffer
{
    public ImageBuffer(int width, int height, byte[]? rgba = null)
    {
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"Image size {width}x{height} must be positive.");
        Rgba = rgba ?? new byte[checked(width * height * 4)];
        if (Rgba.Length != width * height * 4) throw new ArgumentException($"Pixel array of {Rgba.Length} bytes for {width}x{height} RGBA.", nameof(rgba));
        Width = width;
        Height = height;
    }

    public int Width { get; }
    public int Height { get; }
    /// <summary>Pixels, 4 bytes each (R, G, B, 255); length Width * Height * 4.</summary>
    public byte[] Rgba { get; }

    /// <summary>Channel c (0 R, 1 G, 2 B) of pixel (x, y).</summary>
    public byte this[int x, int y, int c] => Rgba[(y * Width + x) * 4 + c];
}
