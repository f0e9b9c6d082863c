namespace HpfDet.Evaluation;

/// <summary>
/// Settings of <see cref="CocoEvaluator"/>. The defaults are pycocotools' bbox parameters; the IoU,
/// recall thresholds and area ranges are fixed to them (see <see cref="CocoEvalResult"/>).
/// </summary>
/// <param name="MaxDets">Detections kept per image and category, ascending (pycocotools: 1, 10, 100).
/// The summary reads maxDets[0], [1], [2] and the entries equal to 100, as pycocotools does.</param>
/// <param name="MaxDegreeOfParallelism">Threads over categories; -1 = all cores.</param>
public sealed record CocoEvalOptions(IReadOnlyList<int>? MaxDets = null, int MaxDegreeOfParallelism = -1)
{
    internal int[] SortedMaxDets()
    {
        var m = (MaxDets ?? [1, 10, 100]).ToArray();
        if (m.Length == 0 || m.Any(x => x <= 0))
            throw new HpfDetException($"CocoEvalOptions.MaxDets must be positive numbers, got [{string.Join(", ", m)}].");
        Array.Sort(m);
        return m;
    }
}
