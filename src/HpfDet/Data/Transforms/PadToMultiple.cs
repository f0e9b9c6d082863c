namespace HpfDet.Data.Transforms;

/// <summary>
/// Pads bottom and right to a multiple of <see cref="Divisor"/> (32: the stride of P5, so every
/// pyramid level has whole cells). Boxes do not move. The padding is written as zeros after
/// normalisation, when the image is copied into the batch.
/// </summary>
public sealed class PadToMultiple(int divisor = 32) : IDetectionTransform
{
    public int Divisor { get; } = divisor > 0 ? divisor : throw new ArgumentOutOfRangeException(nameof(divisor));

    public void Apply(TransformSample sample, Random rng)
    {
        sample.PaddedWidth = RoundUp(Math.Max(sample.PaddedWidth, sample.Image.Width), Divisor);
        sample.PaddedHeight = RoundUp(Math.Max(sample.PaddedHeight, sample.Image.Height), Divisor);
    }

    public static int RoundUp(int value, int divisor) => (value + divisor - 1) / divisor * divisor;
}
