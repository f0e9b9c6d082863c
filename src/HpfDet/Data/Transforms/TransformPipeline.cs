namespace HpfDet.Data.Transforms;

/// <summary>Transforms applied in order, each with the sample's own random stream.</summary>
public sealed class TransformPipeline(IReadOnlyList<IDetectionTransform> transforms)
{
    public IReadOnlyList<IDetectionTransform> Transforms { get; } = transforms;

    public TransformPipeline(params IDetectionTransform[] transforms) : this((IReadOnlyList<IDetectionTransform>)transforms) { }

    public void Apply(TransformSample sample, Random rng)
    {
        foreach (var t in Transforms) t.Apply(sample, rng);
    }

    /// <summary>
    /// The smallest image size, as a function of the full size, that the pipeline's first step (a
    /// keep-ratio resize) needs: decoders may reduce to it. Null when the first step is no resize.
    /// </summary>
    public Func<int, int, (int Width, int Height)>? DecodeTarget => Transforms.FirstOrDefault() switch
    {
        KeepRatioResize k => k.Scale.OutputSize,
        RandomChoiceResize r => (w, h) => r.Scales.Select(s => s.OutputSize(w, h)).Aggregate((a, b) => (Math.Max(a.Width, b.Width), Math.Max(a.Height, b.Height))),
        _ => null,
    };

    /// <summary>
    /// Training: multi-scale keep-ratio resize (one scale: plain resize), horizontal flip with
    /// probability 0.5, optional random shift by up to <paramref name="randomShift"/> pixels (YOLOF's, after
    /// the flip), optional photometric distortion, pad to a multiple of 32.
    /// </summary>
    public static TransformPipeline ForTraining(IReadOnlyList<ResizeScale> scales, bool photometricDistortion = false, double flipProbability = 0.5, int sizeDivisor = 32, int randomShift = 0)
    {
        var steps = new List<IDetectionTransform>
        {
            scales.Count == 1 ? new KeepRatioResize(scales[0]) : new RandomChoiceResize(scales),
            new RandomHorizontalFlip(flipProbability),
        };
        if (randomShift > 0) steps.Add(new RandomShift(randomShift));
        if (photometricDistortion) steps.Add(new PhotometricDistortion());
        steps.Add(new PadToMultiple(sizeDivisor));
        return new TransformPipeline(steps);
    }

    /// <summary>Evaluation: keep-ratio resize to one scale and pad to a multiple of 32; nothing random.</summary>
    public static TransformPipeline ForEvaluation(ResizeScale scale, int sizeDivisor = 32) =>
        new(new KeepRatioResize(scale), new PadToMultiple(sizeDivisor));
}
