namespace HpfDet.Data.Transforms;

/// <summary>
/// Resizes keeping the aspect ratio to a <see cref="ResizeScale"/>. Boxes are scaled by the exact
/// per-axis factors (new size / old size), so rounding the size never misplaces them.
/// </summary>
public sealed class KeepRatioResize(ResizeScale scale) : IDetectionTransform
{
    public ResizeScale Scale { get; } = scale;

    public void Apply(TransformSample sample, Random rng) => ResizeTo(sample, Scale);

    internal static void ResizeTo(TransformSample sample, ResizeScale scale)
    {
        var (w, h) = (sample.Image.Width, sample.Image.Height);
        var (nw, nh) = scale.OutputSize(sample.DecodedFrom?.Width ?? w, sample.DecodedFrom?.Height ?? h);
        sample.DecodedFrom = null;
        double sx = nw / (double)w, sy = nh / (double)h;
        sample.Image = ImageDecoder.Resize(sample.Image, nw, nh);
        var b = sample.Boxes;
        for (var i = 0; i < b.Length; i += 4)
        {
            b[i] = (float)(b[i] * sx); b[i + 2] = (float)(b[i + 2] * sx);
            b[i + 1] = (float)(b[i + 1] * sy); b[i + 3] = (float)(b[i + 3] * sy);
        }
        sample.XScale *= sx; sample.XOffset *= sx;
        sample.YScale *= sy; sample.YOffset *= sy;
        sample.PaddedWidth = nw;
        sample.PaddedHeight = nh;
    }
}
