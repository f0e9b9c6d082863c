using System.Text;
using System.Text.Json;

namespace HpfDet.Data;

/// <summary>Box counts of one class, split by COCO's area ranges (small &lt; 32², medium &lt; 96², large).</summary>
public sealed record ClassStatistics(string Name, int Boxes, int Small, int Medium, int Large);

/// <summary>What <c>hpfdet info</c> reports: images, boxes per class, box sizes, dropped data with reasons.</summary>
public sealed record DatasetStatistics(
    string Name,
    int Images,
    int ImagesWithoutBoxes,
    int Boxes,
    int Small,
    int Medium,
    int Large,
    IReadOnlyList<ClassStatistics> Classes,
    IReadOnlyList<DataIssue> Dropped,
    IReadOnlyList<DataIssue> Clipped,
    IReadOnlyList<DataIssue>? Warnings = null)
{
    /// <summary>Issues that change nothing but deserve a look: annotation sizes that disagree with the image, missing label folders.</summary>
    public IReadOnlyList<DataIssue> Warnings { get; init; } = Warnings ?? [];

    /// <summary>COCO's small/medium boundary: area 32².</summary>
    public const float SmallMaxArea = 32 * 32;
    /// <summary>COCO's medium/large boundary: area 96².</summary>
    public const float MediumMaxArea = 96 * 96;

    public static DatasetStatistics Compute(DetectionDataset dataset)
    {
        var perClass = new int[dataset.ClassNames.Count, 3];
        foreach (var b in dataset.Samples.SelectMany(s => s.Boxes))
            perClass[b.Label, b.Area < SmallMaxArea ? 0 : b.Area < MediumMaxArea ? 1 : 2]++;
        var classes = dataset.ClassNames.Select((n, c) => new ClassStatistics(n, perClass[c, 0] + perClass[c, 1] + perClass[c, 2], perClass[c, 0], perClass[c, 1], perClass[c, 2])).ToList();
        var issues = dataset.Issues.Items;
        return new DatasetStatistics(
            dataset.Name,
            dataset.Count,
            dataset.Samples.Count(s => s.Boxes.Count == 0),
            classes.Sum(c => c.Boxes),
            classes.Sum(c => c.Small),
            classes.Sum(c => c.Medium),
            classes.Sum(c => c.Large),
            classes,
            issues.Where(i => i.DropsBox || i.SkipsSample).ToList(),
            issues.Where(i => i.Kind == DataIssueKind.BoxClipped).ToList(),
            issues.Where(i => !i.DropsBox && !i.SkipsSample && i.Kind != DataIssueKind.BoxClipped).ToList());
    }

    /// <summary>
    /// JSON with images, boxes, classes [{name, boxes, small, medium, large}], sizes {small, medium,
    /// large}, dropped [{file, line, kind, reason}] (dropped boxes and skipped samples), clipped count,
    /// warnings [{file, line, kind, reason}].
    /// </summary>
    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("dataset", Name);
            w.WriteNumber("images", Images);
            w.WriteNumber("images_without_boxes", ImagesWithoutBoxes);
            w.WriteNumber("boxes", Boxes);
            w.WriteStartObject("sizes");
            w.WriteNumber("small", Small);
            w.WriteNumber("medium", Medium);
            w.WriteNumber("large", Large);
            w.WriteEndObject();
            w.WriteStartArray("classes");
            foreach (var c in Classes)
            {
                w.WriteStartObject();
                w.WriteString("name", c.Name);
                w.WriteNumber("boxes", c.Boxes);
                w.WriteNumber("small", c.Small);
                w.WriteNumber("medium", c.Medium);
                w.WriteNumber("large", c.Large);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            WriteIssues(w, "dropped", Dropped);
            w.WriteNumber("clipped_boxes", Clipped.Count);
            WriteIssues(w, "warnings", Warnings);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    static void WriteIssues(Utf8JsonWriter w, string name, IReadOnlyList<DataIssue> issues)
    {
        w.WriteStartArray(name);
        foreach (var d in issues)
        {
            w.WriteStartObject();
            w.WriteString("file", d.File);
            if (d.Line is { } line) w.WriteNumber("line", line);
            else w.WriteNull("line");
            w.WriteString("kind", d.Kind.ToString());
            w.WriteString("reason", d.Reason);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    /// <summary>A plain-text table for the console.</summary>
    public string ToText(int maxDropped = 20)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"dataset: {Name}");
        sb.AppendLine($"images:  {Images} ({ImagesWithoutBoxes} without boxes)");
        sb.AppendLine($"boxes:   {Boxes} (small {Small}, medium {Medium}, large {Large}; COCO area ranges <32², <96², larger)");
        var width = Math.Max(5, Classes.Count == 0 ? 5 : Classes.Max(c => c.Name.Length));
        sb.AppendLine($"  {"class".PadRight(width)}  {"boxes",7}  {"small",7}  {"medium",7}  {"large",7}");
        foreach (var c in Classes)
            sb.AppendLine($"  {c.Name.PadRight(width)}  {c.Boxes,7}  {c.Small,7}  {c.Medium,7}  {c.Large,7}");
        sb.AppendLine($"dropped: {Dropped.Count} (boxes dropped or images skipped); clipped boxes: {Clipped.Count}");
        foreach (var d in Dropped.Take(maxDropped)) sb.AppendLine($"  {d}");
        if (Dropped.Count > maxDropped) sb.AppendLine($"  ... and {Dropped.Count - maxDropped} more (see --json)");
        if (Warnings.Count > 0)
        {
            sb.AppendLine($"warnings: {Warnings.Count} (" + string.Join(", ", Warnings.GroupBy(w => w.Kind).Select(g => $"{g.Count()} {g.Key}")) + ")");
            foreach (var d in Warnings.Take(maxDropped)) sb.AppendLine($"  {d}");
            if (Warnings.Count > maxDropped) sb.AppendLine($"  ... and {Warnings.Count - maxDropped} more (see --json)");
        }
        return sb.ToString().TrimEnd();
    }
}
