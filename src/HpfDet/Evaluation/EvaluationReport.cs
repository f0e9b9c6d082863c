using System.Globalization;
using System.Text;
using System.Text.Json;

namespace HpfDet.Evaluation;

/// <summary>Text and JSON forms of an evaluation: pycocotools' summary, a per-class table, a metrics file.</summary>
public static class EvaluationReport
{
    /// <summary>The 12 summary lines exactly as pycocotools' COCOeval.summarize() prints them, joined by '\n'.</summary>
    public static string FormatSummary(CocoEvalResult result) => FormatSummary(result.Stats, result.IouThresholds, result.MaxDets);

    /// <summary>The 12 pycocotools lines for any 12 stats (e.g. one category's).</summary>
    public static string FormatSummary(double[] stats, double[] iouThresholds, int[] maxDets)
    {
        int MaxDetAt(int i) => i < maxDets.Length ? maxDets[i] : -1;
        var iouAll = $"{F2(iouThresholds[0])}:{F2(iouThresholds[^1])}";
        (bool Ap, string Iou, string Area, int MaxDets)[] rows =
        [
            (true, iouAll, "all", 100), (true, F2(0.5), "all", MaxDetAt(2)), (true, F2(0.75), "all", MaxDetAt(2)),
            (true, iouAll, "small", MaxDetAt(2)), (true, iouAll, "medium", MaxDetAt(2)), (true, iouAll, "large", MaxDetAt(2)),
            (false, iouAll, "all", MaxDetAt(0)), (false, iouAll, "all", MaxDetAt(1)), (false, iouAll, "all", MaxDetAt(2)),
            (false, iouAll, "small", MaxDetAt(2)), (false, iouAll, "medium", MaxDetAt(2)), (false, iouAll, "large", MaxDetAt(2)),
        ];
        var sb = new StringBuilder();
        for (var i = 0; i < rows.Length; i++)
        {
            var (ap, iou, area, md) = rows[i];
            // ' {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}'
            if (i > 0) sb.Append('\n');
            sb.Append(' ').Append((ap ? "Average Precision" : "Average Recall").PadRight(18)).Append(' ')
              .Append(ap ? "(AP)" : "(AR)").Append(" @[ IoU=").Append(iou.PadRight(9)).Append(" | area=").Append(area.PadLeft(6))
              .Append(" | maxDets=").Append(md.ToString(CultureInfo.InvariantCulture).PadLeft(3)).Append(" ] = ").Append(PyNumerics.Fixed3(stats[i]));
        }
        return sb.ToString();
    }

    static string F2(double v) => v.ToString("0.00", CultureInfo.InvariantCulture);

    /// <summary>A fixed-width table: one row per category with its ground-truth count, AP, AP50, AP75, APs/m/l, AR100 and VOC AP50.</summary>
    public static string FormatPerCategoryTable(CocoEvalResult result, VocResult? voc = null)
    {
        var nameWidth = Math.Max(8, result.PerCategory.Count == 0 ? 0 : result.PerCategory.Max(c => c.Name.Length));
        var sb = new StringBuilder();
        var header = $"{"id",6}  {"category".PadRight(nameWidth)}  {"gt",7}  {"AP",6}  {"AP50",6}  {"AP75",6}  {"APs",6}  {"APm",6}  {"APl",6}  {"AR100",6}";
        if (voc != null) header += $"  {"VOC50",6}";
        sb.Append(header).Append('\n').Append(new string('-', header.Length)).Append('\n');
        for (var k = 0; k < result.PerCategory.Count; k++)
        {
            var c = result.PerCategory[k];
            sb.Append($"{c.CategoryId,6}  {c.Name.PadRight(nameWidth)}  {result.NumNonIgnoredGt[k, 0],7}");
            foreach (var i in new[] { 0, 1, 2, 3, 4, 5, 8 }) sb.Append("  ").Append(Cell(c.Stats[i]));
            if (voc != null) sb.Append("  ").Append(Cell(voc.PerClass[k].Ap));
            sb.Append('\n');
        }
        sb.Append($"{"",6}  {"all".PadRight(nameWidth)}  {result.Input.GroundTruthBoxes,7}");
        foreach (var i in new[] { 0, 1, 2, 3, 4, 5, 8 }) sb.Append("  ").Append(Cell(result.Stats[i]));
        if (voc != null) sb.Append("  ").Append(Cell(voc.MeanAp));
        return sb.Append('\n').ToString();

        static string Cell(double v) => double.IsNaN(v) || v < 0 ? "     -" : PyNumerics.Fixed3(v).PadLeft(6);
    }

    /// <summary>
    /// The metrics as JSON: {"stats": [12], "per_category": [{"category_id", "name", "stats": [12], "voc_ap50"}], "voc_map50"}.
    /// Undefined values are -1 (as in pycocotools).
    /// </summary>
    public static string ToJson(CocoEvalResult result, VocResult? voc = null)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            WriteArray(w, "stats", result.Stats);
            w.WriteStartArray("per_category");
            for (var k = 0; k < result.PerCategory.Count; k++)
            {
                var c = result.PerCategory[k];
                w.WriteStartObject();
                w.WriteNumber("category_id", c.CategoryId);
                w.WriteString("name", c.Name);
                WriteArray(w, "stats", c.Stats);
                if (voc != null) w.WriteNumber("voc_ap50", Defined(voc.PerClass[k].Ap));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            if (voc != null) w.WriteNumber("voc_map50", Defined(voc.MeanAp));
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());

        static double Defined(double v) => double.IsNaN(v) ? -1 : v;
    }

    /// <summary>Writes <see cref="ToJson"/> to <paramref name="path"/> (folders created).</summary>
    public static void WriteJson(string path, CocoEvalResult result, VocResult? voc = null)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        File.WriteAllText(path, ToJson(result, voc));
    }

    static void WriteArray(Utf8JsonWriter w, string name, double[] values)
    {
        w.WriteStartArray(name);
        foreach (var v in values) w.WriteNumberValue(v);
        w.WriteEndArray();
    }
}
