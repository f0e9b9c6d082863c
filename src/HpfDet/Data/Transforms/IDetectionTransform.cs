namespace HpfDet.Data.Transforms;

/// <summary>
/// One step of a <see cref="TransformPipeline"/>: changes the image and its boxes together. Random
/// choices come only from the given <see cref="Random"/> so a sample's result depends on its seed alone.
/// </summary>
public interface IDetectionTransform
{
    void Apply(TransformSample sample, Random rng);
}
