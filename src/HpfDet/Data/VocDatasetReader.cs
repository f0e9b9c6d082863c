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
    /// Class-list files looked for in the dataset folder, in this order: one name a line, or CVAT's
    /// labelmap.txt ("name:r,g,b:parts:actions" lines, its "background" entry left out).
    /// </summary>
    public static readonly string[] ClassListFiles = ["labels.txt", "classes.txt", "labelmap.txt"];

    /// <summary>Deeper XML than this is refused: no real annotation nests beyond a handful of levels.</summary>
    public const int MaxXmlDepth = 64;

    /// <summary>
    /// Reads the samples listed in ImageSets/Main/<paramref name="split"/>.txt, or every annotation
    /// when <paramref name="split"/> is null. Classes are <see cref="DataReadOptions.ClassNames"/>, else
    /// the dataset's labels.txt or classes.txt, else every name in Annotations/ sorted ordinally (so all
    /// splits agree). With a class list, names outside it are reported with file and line.
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
            : ReadSplitFile(root, split, issues, options);

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
                result = (null, new DataIssue(DataIssueKind.MalformedAnnotation, path,
                    Directory.Exists(path) ? "annotation path is a folder, not a file" : "annotation file not found for an id in the split file"));
            else if (!options.AllowSymlinksOutside && DatasetPaths.LeavesRoot(root, path))
                result = (null, new DataIssue(DataIssueKind.PathEscape, path,
                    $"annotation file is a symbolic link leading out of the dataset folder '{root}' (or a link loop); refused. Copy the file into the dataset, or allow links out of it (DataReadOptions.AllowSymlinksOutside)"));
            else result = LoadXml(path);
            parsed[id] = result;
            return result;
        }

        var classNames = options.ClassNames ?? ReadClassList(root) ?? DiscoverClasses(annotationDir, ids, id => Parse(id).Doc);
        var classIndex = classNames.Select((n, i) => (n, i)).ToDictionary(t => t.n, t => t.i, StringComparer.Ordinal);

        var samples = new List<DetectionSample>();
        foreach (var id in ids)
        {
            var (doc, problem) = Parse(id);
            if (problem != null) issues.Add(problem);
            if (doc == null) continue;
            var xmlPath = Path.Combine(annotationDir, id + ".xml");
            var sample = ReadSample(root, xmlPath, doc, classIndex, samples.Count + 1, options, issues);
            if (sample != null) samples.Add(sample with { MaxImagePixels = options.MaxImagePixels });
        }
        return new DetectionDataset(split == null ? root : $"{root} [{split}]", classNames, samples, issues);
    }

    static List<string> ReadSplitFile(string root, string split, DataIssues issues, DataReadOptions options)
    {
        var splitPath = DatasetPaths.ResolveInside(Path.Combine(root, "ImageSets", "Main"), split + ".txt")
            ?? throw new HpfDetException($"Split name '{split}' would leave the dataset folder '{root}'; use a plain name such as train, val or test.");
        if (!File.Exists(splitPath))
        {
            var dir = Path.GetDirectoryName(splitPath)!;
            var available = Directory.Exists(dir) ? string.Join(", ", Directory.EnumerateFiles(dir, "*.txt").Select(Path.GetFileNameWithoutExtension).Order()) : "none";
            throw new HpfDetException($"Split file '{splitPath}' not found; available splits: {available}.");
        }
        if (!options.AllowSymlinksOutside && DatasetPaths.LeavesRoot(root, splitPath))
            throw new HpfDetException($"Split file '{splitPath}' is a symbolic link leading out of the dataset folder '{root}'; refused. Copy the file into the dataset.");
        var ids = new List<string>();
        var firstLine = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (lineNumber, line) in ListFile.Entries(splitPath))
        {
            var id = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)[0];
            if (firstLine.TryGetValue(id, out var first))
            {
                // Counted once: a repeated id would weigh its image twice in training and evaluation.
                issues.Add(DataIssueKind.DuplicateImageId, splitPath, $"image id '{id}' is listed again (first on line {first}); counted once", lineNumber);
                continue;
            }
            firstLine[id] = lineNumber;
            ids.Add(id);
        }
        if (ids.Count == 0)
            throw new HpfDetException($"Split file '{splitPath}' lists no images: add image ids (one per line) or pick another split.");
        return ids;
    }

    /// <summary>The class names in the dataset's first class-list file (<see cref="ClassListFiles"/>), or null when it has none.</summary>
    public static IReadOnlyList<string>? ReadClassList(string root)
    {
        foreach (var name in ClassListFiles)
        {
            var path = Path.Combine(root, name);
            if (!File.Exists(path)) continue;
            var labelMap = name == "labelmap.txt";
            var names = new List<string>();
            foreach (var (lineNumber, entry) in ListFile.Entries(path))
            {
                var n = labelMap ? entry.Split(':')[0].Trim() : entry;
                if (labelMap && (n.Length == 0 || n == "background")) continue;
                if (names.Contains(n, StringComparer.Ordinal))
                    throw new HpfDetException($"{path}:{lineNumber}: class '{n}' is listed twice; each class name must appear once.");
                names.Add(n);
            }
            if (names.Count == 0)
                throw new HpfDetException($"{path}: the class list is empty; write one class name a line (or remove the file to discover classes).");
            return names;
        }
        return null;
    }

    /// <summary>
    /// Parses an annotation, refusing XML nested deeper than <see cref="MaxXmlDepth"/> in a streaming
    /// pre-pass (linear time) before building the document.
    /// </summary>
    static (XDocument?, DataIssue?) LoadXml(string path)
    {
        var settings = new XmlReaderSettings { DtdProcessing = DtdProcessing.Parse, XmlResolver = null, MaxCharactersFromEntities = 1_000_000 };
        try
        {
            using (var scan = XmlReader.Create(path, settings))
                while (scan.Read())
                    if (scan.Depth > MaxXmlDepth)
                    {
                        var line = scan is IXmlLineInfo li ? li.LineNumber : (int?)null;
                        return (null, new DataIssue(DataIssueKind.MalformedAnnotation, path,
                            $"XML nested deeper than {MaxXmlDepth} levels; not a VOC annotation", line));
                    }
            using var reader = XmlReader.Create(path, settings);
            return (XDocument.Load(reader, LoadOptions.SetLineInfo), null);
        }
        catch (XmlException e) { return (null, new DataIssue(DataIssueKind.MalformedAnnotation, path, $"malformed XML: {e.Message}", e.LineNumber)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, new DataIssue(DataIssueKind.MalformedAnnotation, path, $"annotation file cannot be read: {e.Message}"));
        }
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
        var checkedSize = SampleValidator.CheckImage(imagePath, xmlPath, options, declared, issues, root);
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
