namespace HpfDet.Data.Transforms;

/// <summary>
/// A keep-ratio target: the short side becomes <see cref="ShortSide"/> unless the long side would
/// then exceed <see cref="MaxLongSide"/> (as in torchvision/mmdet, e.g. (800, 1333)).
/// </summary>
public readonly record struct ResizeScale(int ShortSide, int MaxLongSide)
{
    /// <summary>Output size for a <paramref name="width"/> x <paramref name="height"/> image.</summary>
    public (int Width, int Height) OutputSize(int width, int height)
    {
        var factor = Math.Min(ShortSide / (double)Math.Min(width, height), MaxLongSide / (double)Math.Max(width, height));
        return (Math.Max(1, (int)Math.Round(width * factor)), Math.Max(1, (int)Math.Round(height * factor)));
    }
}
