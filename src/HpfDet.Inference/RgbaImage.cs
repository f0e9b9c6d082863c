using System.Runtime.InteropServices;
using SkiaSharp;

namespace HpfDet.Inference;

/// <summary>
/// A decoded image, 8-bit RGBA (row-major, 4 bytes a pixel) with alpha 255, and the decoding and resizing of training. This repeats
/// HpfDet.Data.ImageDecoder (same SkiaSharp calls, EXIF orientation, bilinear resize) because this
/// library must not depend on the HpfDet library and its TorchSharp.
/// </summary>
public sealed record RgbaImage(int Width, int Height, byte[] Rgba)
{
    (int Width, int Height)? sourceSize;

    /// <summary>
    /// The displayed size of the file the pixels came from: larger than (Width, Height) when the decoder
    /// reduced the image (see <see cref="Decode(byte[], string, Func{int, int, ValueTuple{int, int}}?)"/>);
    /// detections are mapped back to it. Defaults to (Width, Height).
    /// </summary>
    public (int Width, int Height) SourceSize { get => sourceSize ?? (Width, Height); init => sourceSize = value; }

    /// <summary>Decodes a file with its EXIF orientation applied; an undecodable file is an <see cref="OnnxDetectorException"/> naming it.</summary>
    public static RgbaImage Decode(string path) => Decode(path, null);

    /// <summary>Decodes a file, reduced where the codec can (see the byte overload).</summary>
    public static RgbaImage Decode(string path, Func<int, int, (int Width, int Height)>? minimumSize)
    {
        if (!File.Exists(path)) throw new OnnxDetectorException($"Image file '{path}' not found.");
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (IOException e) { throw new OnnxDetectorException($"Image file '{path}' cannot be read: {e.Message}", e); }
        return Decode(bytes, path, minimumSize);
    }

    /// <summary>Decodes encoded bytes (JPEG, PNG, BMP, WebP, GIF); <paramref name="name"/> names the image in errors.</summary>
    public static RgbaImage Decode(byte[] encoded, string name) => Decode(encoded, name, null);

    /// <summary>
    /// Decodes encoded bytes, and where the codec can scale while decoding (JPEG: k/8), at the smallest
    /// such size that is still at least <paramref name="minimumSize"/>(displayed width, height) on both
    /// axes — what HpfDet's data loader does in training and evaluation, so the pixels the model sees are
    /// the same. <see cref="SourceSize"/> keeps the full displayed size. Null decodes at full size.
    /// </summary>
    public static RgbaImage Decode(byte[] encoded, string name, Func<int, int, (int Width, int Height)>? minimumSize)
    {
        using var data = SKData.CreateCopy(encoded);
        using var codec = SKCodec.Create(data)
            ?? throw new OnnxDetectorException($"Image '{name}' is not a decodable image (JPEG, PNG, BMP, WebP or GIF expected).");
        int fullW = codec.Info.Width, fullH = codec.Info.Height;
        bool swaps = SwapsAxes(codec.EncodedOrigin);
        var displayed = swaps ? (Width: fullH, Height: fullW) : (Width: fullW, Height: fullH);
        var (w, h) = (fullW, fullH);
        if (minimumSize is not null)
        {
            var (mw, mh) = minimumSize(displayed.Width, displayed.Height);
            if (swaps) (mw, mh) = (mh, mw);
            (w, h) = ReducedSize(codec, fullW, fullH, mw, mh);
        }
        var info = new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var pixels = new byte[info.BytesSize];
        var handle = GCHandle.Alloc(pixels, GCHandleType.Pinned);
        SKCodecResult result;
        try { result = codec.GetPixels(info, handle.AddrOfPinnedObject(), 4 * w, new SKCodecOptions(0)); }
        finally { handle.Free(); }
        if (result == SKCodecResult.IncompleteInput)
            throw new OnnxDetectorException($"Image '{name}' is truncated (decoder: incomplete input).");
        if (result != SKCodecResult.Success)
            throw new OnnxDetectorException($"Image '{name}' cannot be decoded ({result}).");
        for (var i = 3; i < pixels.Length; i += 4) pixels[i] = 255;
        return Orient(new RgbaImage(w, h, pixels), codec.EncodedOrigin) with { SourceSize = displayed };
    }

    /// <summary>The smallest size the codec decodes to directly that is at least (minWidth, minHeight); the full size when it cannot scale (as HpfDet's ImageDecoder).</summary>
    static (int Width, int Height) ReducedSize(SKCodec codec, int fullWidth, int fullHeight, int minWidth, int minHeight)
    {
        if (minWidth >= fullWidth || minHeight >= fullHeight) return (fullWidth, fullHeight);
        for (var k = 1; k < 8; k++)
        {
            var d = codec.GetScaledDimensions(k / 8f);
            if (d.Width >= minWidth && d.Height >= minHeight && d.Width > 0 && d.Height > 0 && d.Width <= fullWidth && d.Height <= fullHeight)
                return (d.Width, d.Height);
        }
        return (fullWidth, fullHeight);
    }

    /// <summary>A bitmap's pixels as unpremultiplied RGBA with alpha 255.</summary>
    public static RgbaImage FromBitmap(SKBitmap bitmap)
    {
        ArgumentNullException.ThrowIfNull(bitmap);
        if (bitmap.Width <= 0 || bitmap.Height <= 0) throw new OnnxDetectorException($"The bitmap is empty ({bitmap.Width}x{bitmap.Height}).");
        var info = new SKImageInfo(bitmap.Width, bitmap.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var pixels = new byte[info.BytesSize];
        var handle = GCHandle.Alloc(pixels, GCHandleType.Pinned);
        try
        {
            using var source = bitmap.PeekPixels() ?? throw new OnnxDetectorException("The bitmap's pixels cannot be read.");
            if (!source.ReadPixels(info, handle.AddrOfPinnedObject(), info.RowBytes))
                throw new OnnxDetectorException($"The bitmap ({bitmap.ColorType}) cannot be converted to RGBA.");
        }
        finally { handle.Free(); }
        for (var i = 3; i < pixels.Length; i += 4) pixels[i] = 255;
        return new RgbaImage(info.Width, info.Height, pixels);
    }

    /// <summary>Bilinear resize (SkiaSharp, linear filter, no mipmaps), as training resizes.</summary>
    internal RgbaImage Resize(int width, int height)
    {
        if (width == Width && height == Height) return this;
        var result = new byte[width * height * 4];
        var srcHandle = GCHandle.Alloc(Rgba, GCHandleType.Pinned);
        var dstHandle = GCHandle.Alloc(result, GCHandleType.Pinned);
        try
        {
            using var src = new SKPixmap(new SKImageInfo(Width, Height, SKColorType.Rgba8888, SKAlphaType.Opaque), srcHandle.AddrOfPinnedObject());
            using var dst = new SKPixmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque), dstHandle.AddrOfPinnedObject());
            if (!src.ScalePixels(dst, new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.None)))
                throw new InvalidOperationException($"Resize {Width}x{Height} -> {width}x{height} failed.");
        }
        finally
        {
            srcHandle.Free();
            dstHandle.Free();
        }
        return new RgbaImage(width, height, result);
    }

    static bool SwapsAxes(SKEncodedOrigin origin) =>
        origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;

    /// <summary>Stored pixels to displayed pixels for the 8 EXIF orientations.</summary>
    static RgbaImage Orient(RgbaImage stored, SKEncodedOrigin origin)
    {
        if (origin == SKEncodedOrigin.TopLeft) return stored;
        int w = stored.Width, h = stored.Height;
        var (ow, oh) = SwapsAxes(origin) ? (h, w) : (w, h);
        var src = MemoryMarshal.Cast<byte, int>(stored.Rgba);
        var result = new byte[ow * oh * 4];
        var dst = MemoryMarshal.Cast<byte, int>(result.AsSpan());
        for (var y = 0; y < oh; y++)
            for (var x = 0; x < ow; x++)
            {
                var (sx, sy) = origin switch
                {
                    SKEncodedOrigin.TopRight => (w - 1 - x, y),
                    SKEncodedOrigin.BottomRight => (w - 1 - x, h - 1 - y),
                    SKEncodedOrigin.BottomLeft => (x, h - 1 - y),
                    SKEncodedOrigin.LeftTop => (y, x),
                    SKEncodedOrigin.RightTop => (y, h - 1 - x),
                    SKEncodedOrigin.RightBottom => (w - 1 - y, h - 1 - x),
                    SKEncodedOrigin.LeftBottom => (w - 1 - y, x),
                    _ => (x, y),
                };
                dst[y * ow + x] = src[sy * w + sx];
            }
        return new RgbaImage(ow, oh, result);
    }
}
