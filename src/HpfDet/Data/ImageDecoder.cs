using System.Runtime.InteropServices;
using SkiaSharp;

namespace HpfDet.Data;

/// <summary>
/// The one place SkiaSharp decodes and resizes images. Decodes JPEG, PNG, BMP, WebP and the first GIF
/// frame; grayscale, palette, CMYK and alpha all come out as RGBA8888 with alpha 255; the EXIF
/// orientation is applied so that annotations (made on the displayed image) line up.
/// </summary>
public static class ImageDecoder
{
    /// <summary>Decodes a file; throws <see cref="HpfDetException"/> naming the file when it is missing, not an image, or truncated.</summary>
    public static ImageBuffer Decode(string path)
    {
        if (!File.Exists(path)) throw new HpfDetException($"Image file '{path}' not found: check the dataset folder.");
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (IOException e) { throw new HpfDetException($"Image file '{path}' cannot be read: {e.Message}", e); }
        return Decode(bytes, path);
    }

    /// <summary>Decodes encoded bytes; <paramref name="name"/> is used in error messages.</summary>
    public static ImageBuffer Decode(byte[] encoded, string name = "<memory>")
    {
        using var data = SKData.CreateCopy(encoded);
        using var codec = SKCodec.Create(data)
            ?? throw new HpfDetException($"Image file '{name}' is not a decodable image (JPEG, PNG, BMP, WebP or GIF expected): replace or remove it.");
        var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var pixels = new byte[info.BytesSize];
        var handle = GCHandle.Alloc(pixels, GCHandleType.Pinned);
        SKCodecResult result;
        try
        {
            // Frame 0 only: an animated GIF is read as its first frame.
            result = codec.GetPixels(info, handle.AddrOfPinnedObject(), new SKCodecOptions(0));
        }
        finally { handle.Free(); }
        if (result == SKCodecResult.IncompleteInput)
            throw new HpfDetException($"Image file '{name}' is truncated (decoder: incomplete input): re-export or remove it.");
        if (result != SKCodecResult.Success)
            throw new HpfDetException($"Image file '{name}' cannot be decoded ({result}): replace or remove it.");
        for (var i = 3; i < pixels.Length; i += 4) pixels[i] = 255;
        var image = new ImageBuffer(info.Width, info.Height, pixels);
        return ApplyOrientation(image, codec.EncodedOrigin);
    }

    /// <summary>
    /// Width and height as displayed (after EXIF orientation) from the header alone, or null when the
    /// file is not a decodable image.
    /// </summary>
    public static (int Width, int Height)? ReadSize(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            using var codec = SKCodec.Create(stream);
            if (codec == null) return null;
            var (w, h) = (codec.Info.Width, codec.Info.Height);
            return SwapsAxes(codec.EncodedOrigin) ? (h, w) : (w, h);
        }
        catch (IOException) { return null; }
    }

    /// <summary>Bilinear resize to exactly <paramref name="width"/> x <paramref name="height"/>.</summary>
    public static ImageBuffer Resize(ImageBuffer source, int width, int height)
    {
        if (width == source.Width && height == source.Height) return source;
        var result = new ImageBuffer(width, height);
        var srcHandle = GCHandle.Alloc(source.Rgba, GCHandleType.Pinned);
        var dstHandle = GCHandle.Alloc(result.Rgba, GCHandleType.Pinned);
        try
        {
            using var src = new SKPixmap(new SKImageInfo(source.Width, source.Height, SKColorType.Rgba8888, SKAlphaType.Opaque), srcHandle.AddrOfPinnedObject());
            using var dst = new SKPixmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque), dstHandle.AddrOfPinnedObject());
            if (!src.ScalePixels(dst, new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.None)))
                throw new InvalidOperationException($"Resize {source.Width}x{source.Height} -> {width}x{height} failed.");
        }
        finally
        {
            srcHandle.Free();
            dstHandle.Free();
        }
        return result;
    }

    /// <summary>
    /// Encodes as PNG (used to write synthetic datasets and test images). zlib level 1 and the Sub
    /// filter: several times faster than the defaults on noisy images, for files about 10% larger.
    /// </summary>
    public static byte[] EncodePng(ImageBuffer image)
    {
        var handle = GCHandle.Alloc(image.Rgba, GCHandleType.Pinned);
        try
        {
            using var pixmap = new SKPixmap(new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Opaque), handle.AddrOfPinnedObject());
            using var data = pixmap.Encode(new SKPngEncoderOptions(SKPngEncoderFilterFlags.Sub, 1))
                ?? throw new InvalidOperationException($"Encoding a {image.Width}x{image.Height} image as PNG failed.");
            return data.ToArray();
        }
        finally { handle.Free(); }
    }

    /// <summary>Encodes as PNG, JPEG or WebP at the given quality (0-100).</summary>
    public static byte[] Encode(ImageBuffer image, SKEncodedImageFormat format, int quality)
    {
        var handle = GCHandle.Alloc(image.Rgba, GCHandleType.Pinned);
        try
        {
            using var pixmap = new SKPixmap(new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Opaque), handle.AddrOfPinnedObject());
            using var data = pixmap.Encode(format, quality)
                ?? throw new InvalidOperationException($"Encoding a {image.Width}x{image.Height} image as {format} failed.");
            return data.ToArray();
        }
        finally { handle.Free(); }
    }

    static bool SwapsAxes(SKEncodedOrigin origin) =>
        origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;

    /// <summary>Remaps stored pixels to displayed pixels for the 8 EXIF orientations.</summary>
    internal static ImageBuffer ApplyOrientation(ImageBuffer stored, SKEncodedOrigin origin)
    {
        if (origin == SKEncodedOrigin.TopLeft) return stored;
        int w = stored.Width, h = stored.Height;
        var (ow, oh) = SwapsAxes(origin) ? (h, w) : (w, h);
        var src = MemoryMarshal.Cast<byte, int>(stored.Rgba);
        var result = new ImageBuffer(ow, oh);
        var dst = MemoryMarshal.Cast<byte, int>(result.Rgba.AsSpan());
        for (var y = 0; y < oh; y++)
            for (var x = 0; x < ow; x++)
            {
                // (sx, sy): the stored pixel shown at displayed (x, y).
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
        return result;
    }
}
