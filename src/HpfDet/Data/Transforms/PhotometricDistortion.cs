namespace HpfDet.Data.Transforms;

/// <summary>Ranges of <see cref="PhotometricDistortion"/> (mmdet's defaults); each change happens with probability 0.5.</summary>
/// <param name="BrightnessDelta">Added to every channel, uniform in ±delta (0-255 scale).</param>
/// <param name="ContrastRange">Multiplies every channel.</param>
/// <param name="SaturationRange">Blend factor with the grey image (0 grey, 1 unchanged).</param>
/// <param name="HueDeltaDegrees">Hue rotation, uniform in ±delta degrees.</param>
public sealed record PhotometricDistortionOptions(
    float BrightnessDelta = 32,
    (float Min, float Max) ContrastRange = default,
    (float Min, float Max) SaturationRange = default,
    float HueDeltaDegrees = 18)
{
    public (float Min, float Max) Contrast => ContrastRange == default ? (0.5f, 1.5f) : ContrastRange;
    public (float Min, float Max) Saturation => SaturationRange == default ? (0.5f, 1.5f) : SaturationRange;
}

/// <summary>
/// Random brightness, contrast, saturation and hue. All four are linear maps of RGB (hue as a
/// rotation about the grey axis in YIQ), so they are composed into one 3x4 matrix and applied in a
/// single pass with one clamp at the end. Boxes are unchanged.
/// </summary>
public sealed class PhotometricDistortion(PhotometricDistortionOptions? options = null) : IDetectionTransform
{
    public PhotometricDistortionOptions Options { get; } = options ?? new();

    public void Apply(TransformSample sample, Random rng)
    {
        var o = Options;
        var m = Identity();
        var brightness = rng.NextDouble() < 0.5 ? Uniform(rng, -o.BrightnessDelta, o.BrightnessDelta) : 0f;
        var contrastFirst = rng.NextDouble() < 0.5;
        var contrast = rng.NextDouble() < 0.5 ? Uniform(rng, o.Contrast.Min, o.Contrast.Max) : 1f;
        var saturation = rng.NextDouble() < 0.5 ? Uniform(rng, o.Saturation.Min, o.Saturation.Max) : 1f;
        var hue = rng.NextDouble() < 0.5 ? Uniform(rng, -o.HueDeltaDegrees, o.HueDeltaDegrees) : 0f;

        m = Multiply(Offset(brightness), m);
        if (contrastFirst) m = Multiply(Scale(contrast), m);
        m = Multiply(SaturationMatrix(saturation), m);
        m = Multiply(HueMatrix(hue), m);
        if (!contrastFirst) m = Multiply(Scale(contrast), m);
        if (IsIdentity(m)) return;

        var px = sample.Image.Rgba;
        for (var i = 0; i < px.Length; i += 4)
        {
            float r = px[i], g = px[i + 1], b = px[i + 2];
            px[i] = Clamp(m[0] * r + m[1] * g + m[2] * b + m[3]);
            px[i + 1] = Clamp(m[4] * r + m[5] * g + m[6] * b + m[7]);
            px[i + 2] = Clamp(m[8] * r + m[9] * g + m[10] * b + m[11]);
        }
    }

    static float Uniform(Random rng, float min, float max) => min + (float)rng.NextDouble() * (max - min);
    static byte Clamp(float v) => (byte)Math.Clamp((int)MathF.Round(v), 0, 255);

    // 3x4 row-major affine matrices [R | t].
    static float[] Identity() => [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0];
    static float[] Offset(float d) => [1, 0, 0, d, 0, 1, 0, d, 0, 0, 1, d];
    static float[] Scale(float s) => [s, 0, 0, 0, 0, s, 0, 0, 0, 0, s, 0];

    static float[] SaturationMatrix(float s)
    {
        // grey = 0.299 R + 0.587 G + 0.114 B; out = grey + s (in - grey).
        float wr = 0.299f * (1 - s), wg = 0.587f * (1 - s), wb = 0.114f * (1 - s);
        return [wr + s, wg, wb, 0, wr, wg + s, wb, 0, wr, wg, wb + s, 0];
    }

    static float[] HueMatrix(float degrees)
    {
        if (degrees == 0) return Identity();
        // RGB → YIQ, rotate the IQ plane, back to RGB.
        var (sin, cos) = MathF.SinCos(degrees * MathF.PI / 180f);
        float[,] toYiq = { { 0.299f, 0.587f, 0.114f }, { 0.596f, -0.274f, -0.322f }, { 0.211f, -0.523f, 0.312f } };
        float[,] toRgb = { { 1f, 0.956f, 0.621f }, { 1f, -0.272f, -0.647f }, { 1f, -1.106f, 1.703f } };
        float[,] rot = { { 1, 0, 0 }, { 0, cos, -sin }, { 0, sin, cos } };
        var m = Mul3(toRgb, Mul3(rot, toYiq));
        return [m[0, 0], m[0, 1], m[0, 2], 0, m[1, 0], m[1, 1], m[1, 2], 0, m[2, 0], m[2, 1], m[2, 2], 0];
    }

    static float[,] Mul3(float[,] a, float[,] b)
    {
        var c = new float[3, 3];
        for (var i = 0; i < 3; i++)
            for (var j = 0; j < 3; j++)
                for (var k = 0; k < 3; k++) c[i, j] += a[i, k] * b[k, j];
        return c;
    }

    /// <summary>a ∘ b for 3x4 affine matrices.</summary>
    static float[] Multiply(float[] a, float[] b)
    {
        var c = new float[12];
        for (var i = 0; i < 3; i++)
        {
            for (var j = 0; j < 3; j++)
                c[i * 4 + j] = a[i * 4] * b[j] + a[i * 4 + 1] * b[4 + j] + a[i * 4 + 2] * b[8 + j];
            c[i * 4 + 3] = a[i * 4] * b[3] + a[i * 4 + 1] * b[7] + a[i * 4 + 2] * b[11] + a[i * 4 + 3];
        }
        return c;
    }

    static bool IsIdentity(float[] m) => m.AsSpan().SequenceEqual(Identity());
}
