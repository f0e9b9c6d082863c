namespace HpfDet.Data;

/// <summary>
/// A detection dataset in the common form every reader produces: samples with xyxy pixel boxes and
/// contiguous class indices, the class names, and the report of everything that was wrong with the input.
/// </summary>
public sealed class DetectionDataset
{
    public DetectionDataset(string name, IReadOnlyList<string> classNames, IReadOnlyList<DetectionSample> samples,
        DataIssues issues, IReadOnlyList<int>? cocoCategoryIds = null)
    {
        if (cocoCategoryIds != null && cocoCategoryIds.Count != classNames.Count)
            throw new ArgumentException($"{cocoCategoryIds.Count} COCO category ids for {classNames.Count} classes.", nameof(cocoCategoryIds));
        Name = name;
        ClassNames = classNames;
        Samples = samples;
        Issues = issues;
        CocoCategoryIds = cocoCategoryIds;
    }

    /// <summary>Where the data came from (a folder, a file, "synthetic"), for messages.</summary>
    public string Name { get; }
    /// <summary>Class names by contiguous index; the background label is <c>ClassNames.Count</c>.</summary>
    public IReadOnlyList<string> ClassNames { get; }
    public IReadOnlyList<DetectionSample> Samples { get; }
    /// <summary>Skipped samples, dropped and clipped boxes, with the files they came from.</summary>
    public DataIssues Issues { get; }
    /// <summary>The source's COCO category id per contiguous index; null when the source was not COCO.</summary>
    public IReadOnlyList<int>? CocoCategoryIds { get; }

    public int Count => Samples.Count;
    public DetectionSample this[int index] => Samples[index];

    /// <summary>The COCO category id written for a contiguous class index (source id, else index + 1).</summary>
    public int CategoryIdOf(int classIndex) => CocoCategoryIds?[classIndex] ?? classIndex + 1;
}
