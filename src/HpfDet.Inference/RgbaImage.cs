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
    /// <summary>Decodes a file with its EXIF orientation applied; an undecodable file is an <see cref="OnnxDetectorException"/> naming it.</summary>
    public static RgbaImage Decode(string path)
    {
        if (!File.Exists(path)) throw new OnnxDetectorException($"Image file '{path}' not found.");
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (IOException e) { throw new OnnxDetectorException($"Image file '{path}' cannot be read: {e.Message}", e); }
        return Decode(bytes, path);
    }

    /// <summary>Decodes encoded bytes (JPEG, PNG, BMP, WebP, GIF); <paramref name="name"/> names the image in errors.</summary>
    public static RgbaImage Decode(byte[] encoded, string name)
    {
        using var data = SKData.CreateCopy(encoded);
        using var codec = SKCodec.Create(data)
            ?? throw new OnnxDetectorException($"Image '{name}' is not a decodable image (JPEG, PNG, BMP, WebP or GIF expected).");
        var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var pixels = new byte[info.BytesSize];
        var handle = GCHandle.Alloc(pixels, GCHandleType.Pinned);
        SKCodecResult result;
        try { result = codec.GetPixels(info, handle.AddrOfPinnedObject(), new SKCodecOptions(0)); }
        finally { handle.Free(); }
        if (result == SKCodecResult.IncompleteInput)
            throw new OnnxDetectorException($"Image '{name}' is truncated (decoder: incomplete input).");
        if (result != SKCodecResult.Success)
            throw new OnnxDetectorException($"Image '{name}' cannot be decoded ({result}).");
        for (var i = 3; i < pixels.Length; i += 4) pixels[i] = 255;
        return Orient(new RgbaImage(info.Width, info.Height, pixels), codec.EncodedOrigin);
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
