namespace HpfDet.Data.Transforms;

/// <summary>Multi-scale training: a keep-ratio resize to one of <see cref="Scales"/>, picked uniformly per sample.</summary>
public sealed class RandomChoiceResize : IDetectionTransform
{
    public RandomChoiceResize(IReadOnlyList<ResizeScale> scales)
    {
        if (scales.Count == 0) throw new ArgumentException("At least one scale is needed.", nameof(scales));
        Scales = scales;
    }

    public IReadOnlyList<ResizeScale> Scales { get; }

    public void Apply(TransformSample sample, Random rng) => KeepRatioResize.ResizeTo(sample, Scales[rng.Next(Scales.Count)]);
}
