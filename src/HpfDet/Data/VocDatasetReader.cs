using System.Globalization;
using System.Xml;
using System.Xml.Linq;

namespace HpfDet.Data;

/// <summary>
/// Reads a Pascal VOC folder: Annotations/*.xml, JPEGImages/, ImageSets/Main/&lt;split&gt;.txt.
/// Coordinates are taken as written (no 1-pixel offset), then clipped to the image.
/// </summary>
public static class VocDatasetReader
{
    /// <summary>
    /// Reads the samples listed in ImageSets/Main/<paramref name="split"/>.txt, or every annotation
    /// when <paramref name="split"/> is null. Classes are <see cref="DataReadOptions.ClassNames"/> or,
    /// when null, every name in Annotations/ sorted ordinally (so all splits agree).
    /// </summary>
    public static DetectionDataset Read(string root, string? split = null, DataReadOptions? options = null)
    {
        options ??= DataReadOptions.Default;
        root = Path.GetFullPath(root);
        var annotationDir = Path.Combine(root, "Annotations");
        if (!Directory.Exists(annotationDir))
            throw new HpfDetException($"'{root}' is not a Pascal VOC folder: '{annotationDir}' not found (expected Annotations/, JPEGImages/, ImageSets/Main/).");
        var issues = new DataIssues(options.Strict);

        IReadOnlyList<string> ids = split == null
            ? Directory.EnumerateFiles(annotationDir, "*.xml").Select(Path.GetFileNameWithoutExtension).Order(StringComparer.Ordinal).ToList()!
            : ReadSplitFile(root, split);

        // Parse every annotation once (class discovery must see all splits); problems are reported
        // when the sample itself is read, not during discovery.
        var parsed = new Dictionary<string, (XDocument? Doc, DataIssue? Problem)>(StringComparer.Ordinal);
        (XDocument? Doc, DataIssue? Problem) Parse(string id)
        {
            if (parsed.TryGetValue(id, out var cached)) return cached;
            var path = DatasetPaths.ResolveInside(annotationDir, id + ".xml");
            (XDocument?, DataIssue?) result;
            if (path == null)
                result = (null, new DataIssue(DataIssueKind.PathEscape, id, $"image id '{id}' would leave the Annotations folder; refused"));
            else if (!File.Exists(path))
                result = (null, new DataIssue(DataIssueKind.MalformedAnnotation, path, "annotation file not found for an id in the split file"));
            else
            {
                try { result = (XDocument.Load(path, LoadOptions.SetLineInfo), null); }
                catch (XmlException e) { result = (null, new DataIssue(DataIssueKind.MalformedAnnotation, path, $"malformed XML: {e.Message}", e.LineNumber)); }
            }
            parsed[id] = result;
            return result;
        }

        var classNames = options.ClassNames ?? DiscoverClasses(annotationDir, ids, id => Parse(id).Doc);
        var classIndex = classNames.Select((n, i) => (n, i)).ToDictionary(t => t.n, t => t.i, StringComparer.Ordinal);

        var samples = new List<DetectionSample>();
        foreach (var id in ids)
        {
            var (doc, problem) = Parse(id);
            if (problem != null) issues.Add(problem);
            if (doc == null) continue;
            var xmlPath = Path.Combine(annotationDir, id + ".xml");
            var sample = ReadSample(root, xmlPath, doc, classIndex, samples.Count + 1, options, issues);
            if (sample != null) samples.Add(sample);
        }
        return new DetectionDataset(split == null ? root : $"{root} [{split}]", classNames, samples, issues);
    }

    static List<string> ReadSplitFile(string root, string split)
    {
        var splitPath = DatasetPaths.ResolveInside(Path.Combine(root, "ImageSets", "Main"), split + ".txt")
            ?? throw new HpfDetException($"Split name '{split}' would leave the dataset folder '{root}'; use a plain name such as train, val or test.");
        if (!File.Exists(splitPath))
        {
            var dir = Path.GetDirectoryName(splitPath)!;
            var available = Directory.Exists(dir) ? string.Join(", ", Directory.EnumerateFiles(dir, "*.txt").Select(Path.GetFileNameWithoutExtension).Order()) : "none";
            throw new HpfDetException($"Split file '{splitPath}' not found; available splits: {available}.");
        }
        var ids = File.ReadLines(splitPath)
            .Select(l => l.Trim())
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => l.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)[0])
            .ToList();
        if (ids.Count == 0)
            throw new HpfDetException($"Split file '{splitPath}' lists no images: add image ids (one per line) or pick another split.");
        return ids;
    }

    static List<string> DiscoverClasses(string annotationDir, IReadOnlyList<string> ids, Func<string, XDocument?> load)
    {
        var all = Directory.EnumerateFiles(annotationDir, "*.xml").Select(Path.GetFileNameWithoutExtension).Concat(ids);
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var id in all.Distinct())
        {
            var doc = load(id!);
            if (doc == null) continue;
            foreach (var o in doc.Root?.Elements("object") ?? [])
                if (o.Element("name")?.Value.Trim() is { Length: > 0 } n) names.Add(n);
        }
        return names.ToList();
    }

    static DetectionSample? ReadSample(string root, string xmlPath, XDocument doc, Dictionary<string, int> classIndex,
        long imageId, DataReadOptions options, DataIssues issues)
    {
        var annotation = doc.Root;
        if (annotation == null || annotation.Name != "annotation")
        {
            issues.Add(DataIssueKind.MalformedAnnotation, xmlPath, "root element is not <annotation>", Line(annotation));
            return null;
        }
        var fileName = annotation.Element("filename")?.Value.Trim();
        if (string.IsNullOrEmpty(fileName))
        {
            issues.Add(DataIssueKind.MalformedAnnotation, xmlPath, "<filename> missing or empty", Line(annotation));
            return null;
        }
        var imagePath = DatasetPaths.ResolveInside(Path.Combine(root, "JPEGImages"), fileName);
        if (imagePath == null)
        {
            issues.Add(DataIssueKind.PathEscape, xmlPath, $"<filename> '{fileName}' would leave the JPEGImages folder; refused", Line(annotation.Element("filename")));
            return null;
        }
        (int, int)? declared = null;
        if (annotation.Element("size") is { } size
            && TryInt(size.Element("width"), out var dw) && TryInt(size.Element("height"), out var dh) && dw > 0 && dh > 0)
            declared = (dw, dh);
        var checkedSize = SampleValidator.CheckImage(imagePath, xmlPath, options.ImageCheck, declared, issues);
        if (checkedSize is not { } wh) return null;
        var (width, height) = wh;

        var boxes = new List<BoxAnnotation>();
        foreach (var o in annotation.Elements("object"))
        {
            var line = Line(o);
            var name = o.Element("name")?.Value.Trim() ?? "";
            var bb = o.Element("bndbox");
            if (bb == null || !TryFloat(bb.Element("xmin"), out var x1) || !TryFloat(bb.Element("ymin"), out var y1)
                || !TryFloat(bb.Element("xmax"), out var x2) || !TryFloat(bb.Element("ymax"), out var y2))
            {
                issues.Add(DataIssueKind.MalformedBox, xmlPath, "<object> without a numeric <bndbox> xmin/ymin/xmax/ymax; dropped", line);
                continue;
            }
            if (!classIndex.TryGetValue(name, out var label))
            {
                issues.Add(DataIssueKind.UnknownClass, xmlPath, $"class '{name}' is not one of [{string.Join(", ", classIndex.Keys)}]; box dropped", line);
                continue;
            }
            var difficult = TryInt(o.Element("difficult"), out var d) && d != 0;
            var box = SampleValidator.ClipOrDrop(new BoxAnnotation(x1, y1, x2, y2, label, false, difficult), width, height, xmlPath, issues, line);
            if (box != null) boxes.Add(box.Value);
        }
        return new DetectionSample(imageId, imagePath, fileName, width, height, boxes);
    }

    static int? Line(XObject? x) => x is IXmlLineInfo li && li.HasLineInfo() ? li.LineNumber : null;

    static bool TryFloat(XElement? e, out float v) =>
        float.TryParse(e?.Value.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out v) && float.IsFinite(v);

    static bool TryInt(XElement? e, out int v)
    {
        v = 0;
        if (!TryFloat(e, out var f)) return false;
        v = (int)f;
        return true;
    }
}
