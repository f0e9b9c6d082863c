namespace HpfDet.Data;

/// <summary>Channel order of the network input.</summary>
public enum ChannelOrder { Rgb, Bgr }

/// <summary>
/// How pixels become network input: channel order, 0-1 or 0-255 scale, then (v - mean) / std per
/// channel. <see cref="Mean"/> and <see cref="Std"/> are given in the output channel order.
/// </summary>
public sealed record ImageNormalization(float[] Mean, float[] Std, ChannelOrder Order = ChannelOrder.Rgb, bool UnitScale = true)
{
    /// <summary>torchvision's ImageNet weights: RGB, 0-1, mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225).</summary>
    public static ImageNormalization ImageNetRgb { get; } = new([0.485f, 0.456f, 0.406f], [0.229f, 0.224f, 0.225f], ChannelOrder.Rgb, UnitScale: true);

    /// <summary>Caffe-style weights (the pretrained ResNet-18 used here): BGR, 0-255, mean (103.06, 115.90, 123.15), std 1.</summary>
    public static ImageNormalization CaffeBgr { get; } = new([103.06f, 115.90f, 123.15f], [1f, 1f, 1f], ChannelOrder.Bgr, UnitScale: false);

    /// <summary>
    /// Writes <paramref name="image"/> normalised into <paramref name="chw"/>, a [3, paddedHeight, paddedWidth]
    /// block whose padding is left untouched (zero when freshly allocated).
    /// </summary>
    public void WriteChw(ImageBuffer image, Span<float> chw, int paddedWidth, int paddedHeight)
    {
        if (Mean.Length != 3 || Std.Length != 3) throw new InvalidOperationException("Mean and Std need 3 values each.");
        if (paddedWidth < image.Width || paddedHeight < image.Height || chw.Length < 3 * paddedWidth * paddedHeight)
            throw new ArgumentException($"A {image.Width}x{image.Height} image does not fit a {paddedWidth}x{paddedHeight} block of {chw.Length} floats.");
        var unit = UnitScale ? 1f / 255f : 1f;
        Span<float> mul = stackalloc float[3];
        Span<float> add = stackalloc float[3];
        Span<int> source = stackalloc int[3];
        for (var c = 0; c < 3; c++)
        {
            source[c] = Order == ChannelOrder.Rgb ? c : 2 - c;
            mul[c] = unit / Std[c];
            add[c] = -Mean[c] / Std[c];
        }
        var px = image.Rgba;
        var plane = paddedWidth * paddedHeight;
        for (var c = 0; c < 3; c++)
        {
            var dst = chw.Slice(c * plane, plane);
            var (m, a, s) = (mul[c], add[c], source[c]);
            for (var y = 0; y < image.Height; y++)
            {
                var row = dst.Slice(y * paddedWidth, image.Width);
                var p = y * image.Width * 4 + s;
                for (var x = 0; x < row.Length; x++, p += 4) row[x] = px[p] * m + a;
            }
        }
    }

    /// <summary>The image normalised as a [3, H, W] array.</summary>
    public float[] ToChw(ImageBuffer image)
    {
        var result = new float[3 * image.Width * image.Height];
        WriteChw(image, result, image.Width, image.Height);
        return result;
    }
}
