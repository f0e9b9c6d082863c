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
}

/// <summary>One problem found in the input, with the file (and line, where known) it came from.</summary>
public sealed record DataIssue(DataIssueKind Kind, string File, string Reason, int? Line = null)
{
    /// <summary>True when the whole sample was skipped.</summary>
    public bool SkipsSample => Kind is DataIssueKind.MissingImage or DataIssueKind.CorruptImage or DataIssueKind.MalformedAnnotation
        or DataIssueKind.DuplicateImageId or DataIssueKind.PathEscape;
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
    public IReadOnlyList<DataIssue> Items => items;
    public int Count => items.Count;
    public int SkippedSamples => items.Count(i => i.SkipsSample);
    public int DroppedBoxes => items.Count(i => i.DropsBox);
    public int ClippedBoxes => items.Count(i => i.Kind == DataIssueKind.BoxClipped);

    /// <summary>Number of issues per kind (kinds without issues are absent).</summary>
    public IReadOnlyDictionary<DataIssueKind, int> CountsByKind =>
        items.GroupBy(i => i.Kind).OrderBy(g => g.Key).ToDictionary(g => g.Key, g => g.Count());

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
        if (items.Count == 0) return "no data issues";
        var sb = new StringBuilder();
        sb.Append($"{items.Count} data issue(s): ");
        sb.AppendJoin(", ", CountsByKind.Select(kv => $"{kv.Value} {kv.Key}"));
        sb.Append($" ({SkippedSamples} sample(s) skipped, {DroppedBoxes} box(es) dropped, {ClippedBoxes} clipped)");
        foreach (var i in items.Take(maxFiles)) sb.Append('\n').Append("  ").Append(i);
        if (items.Count > maxFiles) sb.Append($"\n  ... and {items.Count - maxFiles} more");
        return sb.ToString();
    }
}
