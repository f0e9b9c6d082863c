using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using HpfDet.Data;
using SkiaSharp;

namespace HpfDet.Tests.Data;

/// <summary>Image files written byte by byte, for headers that no encoder would produce.</summary>
internal static class HandMadeImages
{
    /// <summary>
    /// A PNG whose IHDR declares <paramref name="width"/> x <paramref name="height"/> RGB pixels (chunk
    /// CRCs correct), followed by a small IDAT holding a few rows of zeros and IEND.
    /// </summary>
    public static byte[] PngDeclaring(uint width, uint height)
    {
        using var ms = new MemoryStream();
        ms.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(0), width);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8;  // bit depth
        ihdr[9] = 2;  // colour type: RGB
        // compression, filter, interlace: 0
        WriteChunk(ms, "IHDR", ihdr);
        using (var raw = new MemoryStream())
        {
            using (var z = new ZLibStream(raw, CompressionLevel.SmallestSize, leaveOpen: true))
                z.Write(new byte[4096]); // filter byte 0 + black pixels: the start of the first row(s)
            WriteChunk(ms, "IDAT", raw.ToArray());
        }
        WriteChunk(ms, "IEND", []);
        return ms.ToArray();
    }

    static void WriteChunk(Stream s, string type, byte[] data)
    {
        Span<byte> len = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(len, (uint)data.Length);
        s.Write(len);
        var typeAndData = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        s.Write(typeAndData);
        BinaryPrimitives.WriteUInt32BigEndian(len, Crc32(typeAndData));
        s.Write(len);
    }

    /// <summary>CRC-32 (ISO 3309, polynomial 0xEDB88320) as PNG specifies it.</summary>
    public static uint Crc32(ReadOnlySpan<byte> bytes)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return crc ^ 0xFFFFFFFFu;
    }

    /// <summary>A real small JPEG whose SOF0 header is rewritten to declare <paramref name="width"/> x <paramref name="height"/> (the scan data stays tiny).</summary>
    public static byte[] JpegDeclaring(ushort width, ushort height)
    {
        var image = new ImageBuffer(16, 16);
        Array.Fill(image.Rgba, (byte)128);
        var jpeg = ImageDecoder.Encode(image, SKEncodedImageFormat.Jpeg, 90);
        for (var i = 2; i + 9 < jpeg.Length; i++)
            if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC0)
            {
                // FF C0, length (2), precision (1), height (2), width (2)
                BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(i + 5), height);
                BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(i + 7), width);
                return jpeg;
            }
        throw new InvalidOperationException("The encoder wrote no baseline SOF0 marker.");
    }

    /// <summary>A smooth RGB gradient (so reduced and full decodes can be compared).</summary>
    public static ImageBuffer Gradient(int width, int height)
    {
        var image = new ImageBuffer(width, height);
        for (var y = 0; y < height; y++)
            for (var x = 0; x < width; x++)
            {
                var o = (y * width + x) * 4;
                image.Rgba[o] = (byte)(255 * x / (width - 1));
                image.Rgba[o + 1] = (byte)(255 * y / (height - 1));
                image.Rgba[o + 2] = 90;
                image.Rgba[o + 3] = 255;
            }
        return image;
    }
}
