using HpfDet.Data;
using HpfDet.Tests.Infrastructure;
using SkiaSharp;

namespace HpfDet.Tests.Data;

public class ImageDecoderTests
{
    /// <summary>Left half red, right half blue: survives lossy codecs well enough to check colours.</summary>
    static ImageBuffer Halves(int w, int h)
    {
        var image = new ImageBuffer(w, h);
        for (var y = 0; y < h; y++)
            for (var x = 0; x < w; x++)
            {
                var p = (y * w + x) * 4;
                (image.Rgba[p], image.Rgba[p + 1], image.Rgba[p + 2], image.Rgba[p + 3]) = x < w / 2 ? ((byte)255, (byte)0, (byte)0, (byte)255) : ((byte)0, (byte)0, (byte)255, (byte)255);
            }
        return image;
    }

    static void AssertColour(ImageBuffer image, int x, int y, int r, int g, int b, int tolerance)
    {
        Assert.InRange(image[x, y, 0], r - tolerance, r + tolerance);
        Assert.InRange(image[x, y, 1], g - tolerance, g + tolerance);
        Assert.InRange(image[x, y, 2], b - tolerance, b + tolerance);
    }

    [Theory]
    [InlineData(SKEncodedImageFormat.Png, 0)]
    [InlineData(SKEncodedImageFormat.Jpeg, 40)]
    [InlineData(SKEncodedImageFormat.Webp, 40)]
    public void Decodes_png_jpeg_webp_to_rgba(SKEncodedImageFormat format, int tolerance)
    {
        var bytes = ImageDecoder.Encode(Halves(64, 32), format, 95);
        var image = ImageDecoder.Decode(bytes, format.ToString());
        Assert.Equal((64, 32), (image.Width, image.Height));
        AssertColour(image, 8, 16, 255, 0, 0, tolerance);
        AssertColour(image, 56, 16, 0, 0, 255, tolerance);
    }

    [Fact]
    public void Decodes_a_24_bit_bmp()
    {
        // 2x2, rows stored bottom-up as BGR padded to 4 bytes: bottom row green, blue; top row red, white.
        byte[] pixels = [0, 255, 0, 255, 0, 0, 0, 0, /* bottom */ 0, 0, 255, 255, 255, 255, 0, 0 /* top */];
        var header = new List<byte> { (byte)'B', (byte)'M' };
        header.AddRange(BitConverter.GetBytes(54 + pixels.Length)); header.AddRange(new byte[4]); header.AddRange(BitConverter.GetBytes(54));
        header.AddRange(BitConverter.GetBytes(40)); header.AddRange(BitConverter.GetBytes(2)); header.AddRange(BitConverter.GetBytes(2));
        header.AddRange(BitConverter.GetBytes((short)1)); header.AddRange(BitConverter.GetBytes((short)24)); header.AddRange(new byte[24]);
        var image = ImageDecoder.Decode([.. header, .. pixels], "t.bmp");
        AssertColour(image, 0, 0, 255, 0, 0, 0);
        AssertColour(image, 1, 0, 255, 255, 255, 0);
        AssertColour(image, 0, 1, 0, 255, 0, 0);
        AssertColour(image, 1, 1, 0, 0, 255, 0);
    }

    [Fact]
    public void Decodes_the_first_frame_of_a_gif_through_its_palette()
    {
        // 1x1 GIF89a, global palette [red, black], no transparency, pixel = palette index 0.
        byte[] gif = [.. "GIF89a"u8, 1, 0, 1, 0, 0x80, 0, 0, 255, 0, 0, 0, 0, 0,
            0x21, 0xF9, 4, 0, 0, 0, 0, 0, (byte)',', 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, (byte)'D', 1, 0, (byte)';'];
        var image = ImageDecoder.Decode(gif, "t.gif");
        Assert.Equal((1, 1), (image.Width, image.Height));
        AssertColour(image, 0, 0, 255, 0, 0, 0);
    }

    [Fact]
    public void Grayscale_and_alpha_become_opaque_rgb()
    {
        var gray = new byte[16 * 8];
        Array.Fill(gray, (byte)77);
        var handle = System.Runtime.InteropServices.GCHandle.Alloc(gray, System.Runtime.InteropServices.GCHandleType.Pinned);
        byte[] png;
        try
        {
            using var pixmap = new SKPixmap(new SKImageInfo(16, 8, SKColorType.Gray8, SKAlphaType.Opaque), handle.AddrOfPinnedObject());
            using var data = pixmap.Encode(SKEncodedImageFormat.Png, 100);
            png = data!.ToArray();
        }
        finally { handle.Free(); }
        var image = ImageDecoder.Decode(png, "gray.png");
        AssertColour(image, 3, 3, 77, 77, 77, 0);
        Assert.Equal(255, image[3, 3, 3]);

        // Half-transparent PNG: colour kept (unpremultiplied), alpha forced to 255.
        using var bitmap = new SKBitmap(new SKImageInfo(4, 4, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        bitmap.Erase(new SKColor(200, 100, 50, 128));
        using var encoded = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        var rgba = ImageDecoder.Decode(encoded!.ToArray(), "alpha.png");
        AssertColour(rgba, 1, 1, 200, 100, 50, 1);
        Assert.Equal(255, rgba[1, 1, 3]);
    }

    [Fact]
    public void Exif_orientation_6_rotates_to_the_displayed_image()
    {
        var jpeg = ImageDecoder.Encode(Halves(64, 32), SKEncodedImageFormat.Jpeg, 95);
        // APP1 Exif segment, big-endian TIFF with one IFD entry: Orientation (0x0112) = 6 (rotate 90° clockwise to display).
        byte[] app1 = [0xFF, 0xE1, 0, 34, .. "Exif\0\0"u8, (byte)'M', (byte)'M', 0, 0x2A, 0, 0, 0, 8,
            0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0];
        byte[] withExif = [jpeg[0], jpeg[1], .. app1, .. jpeg[2..]];
        using var dir = TestPaths.NewTempDir();
        var path = Path.Combine(dir, "rot.jpg");
        File.WriteAllBytes(path, withExif);

        Assert.Equal((32, 64), ImageDecoder.ReadSize(path));
        var image = ImageDecoder.Decode(path);
        Assert.Equal((32, 64), (image.Width, image.Height));
        // The stored left (red) half is at the top once rotated clockwise.
        AssertColour(image, 16, 8, 255, 0, 0, 40);
        AssertColour(image, 16, 56, 0, 0, 255, 40);

        // Reduced while decoding: the minimum is asked in displayed axes (16x32), the codec scales the
        // stored 64x32 by 4/8 to 32x16, shown rotated as 16x32.
        var reduced = ImageDecoder.Decode(path, ImageDecoder.DefaultMaxPixels, (w, h) => (w / 2, h / 2), out var full);
        Assert.Equal((32, 64), full);
        Assert.Equal((16, 32), (reduced.Width, reduced.Height));
        AssertColour(reduced, 8, 4, 255, 0, 0, 40);
        AssertColour(reduced, 8, 28, 0, 0, 255, 40);
    }

    [Fact]
    public void Missing_file_and_garbage_bytes_give_errors_naming_the_file()
    {
        Assert.Contains("nope.jpg", Assert.Throws<HpfDetException>(() => ImageDecoder.Decode("/no/such/nope.jpg")).Message);
        Assert.Contains("junk.png", Assert.Throws<HpfDetException>(() => ImageDecoder.Decode("junk"u8.ToArray(), "junk.png")).Message);
    }
}
