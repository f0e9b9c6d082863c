using System.Text;

namespace HpfDet.Data;

/// <summary>What kind of problem a <see cref="DataIssue"/> is.</summary>
public enum DataIssueKind
{
    /// <summary>The image file does not exist (sample skipped).</summary>
    MissingImage,
    /// <summary>The image file cannot be decoded or is truncated (sample skipped).</summary>
    CorruptImage,
    /// <summary>The annotation file cannot be parsed or misses a field (sample skipped).</summary>
    MalformedAnnotation,
    /// <summary>A box entry cannot be parsed (missing or non-numeric coordinates, wrong field count; box dropped).</summary>
    MalformedBox,
    /// <summary>A box names a class outside the class list (box dropped).</summary>
    UnknownClass,
    /// <summary>A box reached outside the image and was clipped to it (box kept).</summary>
    BoxClipped,
    /// <summary>A box had zero or negative width or height, after clipping (box dropped).</summary>
    DegenerateBox,
    /// <summary>Two images share an id (later one skipped).</summary>
    DuplicateImageId,
    /// <summary>A path would leave the dataset folder (sample skipped).</summary>
    PathEscape,
    /// <summary>The size stored in the annotation differs from the image file's (file's size used).</summary>
    SizeMismatch,
    /// <summary>The image declares more pixels than the limit (sample skipped).</summary>
    ImageTooLarge,
    /// <summary>A split has no label folder (its images are kept as background, counted in the reason).</summary>
    MissingLabels,
}

/// <summary>One problem found in the input, with the file (and line, where known) it came from.</summary>
public sealed record DataIssue(DataIssueKind Kind, string File, string Reason, int? Line = null)
{
    /// <summary>True when the whole sample was skipped.</summary>
    public bool SkipsSample => Kind is DataIssueKind.MissingImage or DataIssueKind.CorruptImage or DataIssueKind.MalformedAnnotation
        or DataIssueKind.DuplicateImageId or DataIssueKind.PathEscape or DataIssueKind.ImageTooLarge;
    /// <summary>True when one box was dropped.</summary>
    public bool DropsBox => Kind is DataIssueKind.UnknownClass or DataIssueKind.DegenerateBox or DataIssueKind.MalformedBox;

    public override string ToString() => Line is { } l ? $"{File}:{l}: {Reason}" : $"{File}: {Reason}";
}

/// <summary>
/// The report a reader returns with its dataset: every skipped sample, dropped or clipped box, each
/// with its file. In strict mode the first problem throws <see cref="HpfDetException"/> instead.
/// </summary>
public sealed class DataIssues
{
    readonly List<DataIssue> items = [];

    public DataIssues(bool strict = false) => Strict = strict;

    public bool Strict { get; }
    /// <summary>A snapshot of the issues so far (loader threads may still be adding).</summary>
    public IReadOnlyList<DataIssue> Items => Snapshot();
    public int Count { get { lock (items) return items.Count; } }
    public int SkippedSamples => Snapshot().Count(i => i.SkipsSample);
    public int DroppedBoxes => Snapshot().Count(i => i.DropsBox);
    public int ClippedBoxes => Snapshot().Count(i => i.Kind == DataIssueKind.BoxClipped);
    /// <summary>Issues that neither skip a sample nor drop or clip a box (sizes that disagree, missing label folders).</summary>
    public int Warnings => Snapshot().Count(i => !i.SkipsSample && !i.DropsBox && i.Kind != DataIssueKind.BoxClipped);

    /// <summary>Number of issues per kind (kinds without issues are absent).</summary>
    public IReadOnlyDictionary<DataIssueKind, int> CountsByKind =>
        Snapshot().GroupBy(i => i.Kind).OrderBy(g => g.Key).ToDictionary(g => g.Key, g => g.Count());

    // Read under the lock Add writes under: enumerating the list while a loader thread adds would throw.
    DataIssue[] Snapshot()
    {
        lock (items) return items.ToArray();
    }

    /// <summary>Records a problem; throws in strict mode. Thread-safe.</summary>
    public void Add(DataIssue issue)
    {
        if (Strict)
            throw new HpfDetException($"{issue}. Fix the data, or read without the strict option to skip it with a warning.");
        lock (items) items.Add(issue);
    }

    public void Add(DataIssueKind kind, string file, string reason, int? line = null) => Add(new DataIssue(kind, file, reason, line));

    /// <summary>A short text: counts per kind and the first <paramref name="maxFiles"/> issues.</summary>
    public string Summary(int maxFiles = 10)
    {
        var items = Snapshot();
        if (items.Length == 0) return "no data issues";
        var sb = new StringBuilder();
        sb.Append($"{items.Length} data issue(s): ");
        sb.AppendJoin(", ", items.GroupBy(i => i.Kind).OrderBy(g => g.Key).Select(g => (g.Key, Value: g.Count())).Select(kv => $"{kv.Value} {kv.Key}"));
        sb.Append($" ({items.Count(i => i.SkipsSample)} sample(s) skipped, {items.Count(i => i.DropsBox)} box(es) dropped, {items.Count(i => i.Kind == DataIssueKind.BoxClipped)} clipped)");
        foreach (var i in items.Take(maxFiles)) sb.Append('\n').Append("  ").Append(i);
        if (items.Length > maxFiles) sb.Append($"\n  ... and {items.Length - maxFiles} more");
        return sb.ToString();
    }
}
