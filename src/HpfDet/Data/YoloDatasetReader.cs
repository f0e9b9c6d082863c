using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace HpfDet.Data;

/// <summary>
/// Reads a YOLO export: data.yaml (names; train/val/test image folders), with each image folder's
/// labels in the sibling folder named "labels" (…/images/x.jpg → …/labels/x.txt), one
/// "class cx cy w h" line per box, normalised to [0, 1]. Polygon lines (class x1 y1 x2 y2 …) become
/// their bounding box. An image without a label file has no objects.
/// </summary>
public static class YoloDatasetReader
{
    static readonly string[] ImageExtensions = [".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif"];

    /// <summary>Reads split <paramref name="split"/> ("train", "val"/"valid", "test") of the dataset described by <paramref name="dataYamlPath"/>.</summary>
    public static DetectionDataset Read(string dataYamlPath, string split = "train", DataReadOptions? options = null)
    {
        options ??= DataReadOptions.Default;
        dataYamlPath = Path.GetFullPath(dataYamlPath);
        if (Directory.Exists(dataYamlPath)) dataYamlPath = Path.Combine(dataYamlPath, "data.yaml");
        if (!File.Exists(dataYamlPath))
            throw new HpfDetException($"YOLO data file '{dataYamlPath}' not found: pass the data.yaml of the export (or its folder).");
        var root = Path.GetDirectoryName(dataYamlPath)!;
        var yaml = LoadYaml(dataYamlPath);

        var classNames = ReadNames(yaml, dataYamlPath);
        if (Scalar(yaml, "nc") is { } ncNode)
        {
            if (!int.TryParse(ncNode.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var nc) || nc != classNames.Count)
                throw new HpfDetException($"{dataYamlPath}:{ncNode.Start.Line}: nc is {ncNode.Value} but names lists {classNames.Count} classes; make them agree.");
        }

        // Ultralytics' optional 'path' key moves the base folder; it must stay inside the export.
        var baseDir = root;
        if (Scalar(yaml, "path") is { Value: { Length: > 0 } basePath } baseNode && basePath != ".")
            baseDir = DatasetPaths.ResolveInside(root, basePath)
                ?? throw new HpfDetException($"{dataYamlPath}:{baseNode.Start.Line}: path '{basePath}' would leave the dataset folder '{root}'; refused. Use a path relative to data.yaml inside its folder.");

        var key = split is "valid" or "validation" ? "val" : split;
        var splitNode = Scalar(yaml, key) ?? (key == "val" ? Scalar(yaml, "valid") : null)
            ?? throw new HpfDetException($"{dataYamlPath}: no '{key}' entry; this file lists: {string.Join(", ", yaml.Children.Keys.OfType<YamlScalarNode>().Select(k => k.Value))}.");
        var imageDir = DatasetPaths.ResolveInside(baseDir, splitNode.Value ?? "")
            ?? throw new HpfDetException($"{dataYamlPath}:{splitNode.Start.Line}: {key} folder '{splitNode.Value}' would leave the dataset folder '{root}'; refused. Use a path relative to data.yaml inside its folder.");
        if (!Directory.Exists(imageDir))
            throw new HpfDetException($"{dataYamlPath}:{splitNode.Start.Line}: {key} image folder '{imageDir}' not found.");
        var labelDir = LabelFolderFor(imageDir);

        var issues = new DataIssues(options.Strict);
        var samples = new List<DetectionSample>();
        var files = Directory.EnumerateFiles(imageDir)
            .Where(f => ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .Order(StringComparer.Ordinal);
        foreach (var imagePath in files)
        {
            var labelPath = Path.Combine(labelDir, Path.GetFileNameWithoutExtension(imagePath) + ".txt");
            var size = SampleValidator.CheckImage(imagePath, imagePath, options.ImageCheck == ImageCheck.Exists ? ImageCheck.Header : options.ImageCheck, null, issues);
            if (size is not { } wh) continue;
            var boxes = File.Exists(labelPath) ? ReadLabels(labelPath, wh.Width, wh.Height, classNames.Count, issues) : [];
            samples.Add(new DetectionSample(samples.Count + 1, imagePath, Path.GetRelativePath(imageDir, imagePath), wh.Width, wh.Height, boxes));
        }
        return new DetectionDataset($"{dataYamlPath} [{split}]", classNames, samples, issues);
    }

    /// <summary>…/images → …/labels (the last "images" segment), as YOLO tools do.</summary>
    static string LabelFolderFor(string imageDir)
    {
        var parts = imageDir.Split(Path.DirectorySeparatorChar);
        var i = Array.LastIndexOf(parts, "images");
        if (i < 0) return imageDir; // labels beside the images
        parts[i] = "labels";
        return string.Join(Path.DirectorySeparatorChar, parts);
    }

    static List<BoxAnnotation> ReadLabels(string labelPath, int width, int height, int classCount, DataIssues issues)
    {
        var boxes = new List<BoxAnnotation>();
        var lineNumber = 0;
        foreach (var raw in File.ReadLines(labelPath))
        {
            lineNumber++;
            var fields = raw.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 0) continue;
            var values = new float[fields.Length - 1];
            var numeric = int.TryParse(fields[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var cls);
            for (var k = 1; k < fields.Length && numeric; k++)
                numeric = float.TryParse(fields[k], NumberStyles.Float, CultureInfo.InvariantCulture, out values[k - 1]) && float.IsFinite(values[k - 1]);
            var isBox = values.Length == 4;
            var isPolygon = values.Length >= 6 && values.Length % 2 == 0;
            if (!numeric || !(isBox || isPolygon))
            {
                issues.Add(DataIssueKind.MalformedBox, labelPath, $"expected 'class cx cy w h' (or a polygon), got '{raw.Trim()}'; dropped", lineNumber);
                continue;
            }
            if (cls < 0 || cls >= classCount)
            {
                issues.Add(DataIssueKind.UnknownClass, labelPath, $"class id {cls} is outside 0..{classCount - 1} (names in data.yaml); box dropped", lineNumber);
                continue;
            }
            float x1, y1, x2, y2;
            if (isBox)
            {
                var (cx, cy, w, h) = (values[0] * width, values[1] * height, values[2] * width, values[3] * height);
                (x1, y1, x2, y2) = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2);
            }
            else
            {
                (x1, y1, x2, y2) = (float.MaxValue, float.MaxValue, float.MinValue, float.MinValue);
                for (var k = 0; k < values.Length; k += 2)
                {
                    x1 = Math.Min(x1, values[k] * width); x2 = Math.Max(x2, values[k] * width);
                    y1 = Math.Min(y1, values[k + 1] * height); y2 = Math.Max(y2, values[k + 1] * height);
                }
            }
            var box = SampleValidator.ClipOrDrop(new BoxAnnotation(x1, y1, x2, y2, cls), width, height, labelPath, issues, lineNumber);
            if (box != null) boxes.Add(box.Value);
        }
        return boxes;
    }

    static YamlMappingNode LoadYaml(string path)
    {
        try
        {
            using var reader = new StreamReader(path);
            var stream = new YamlStream();
            stream.Load(reader);
            if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode map)
                throw new HpfDetException($"{path}: expected a YAML mapping with 'names' and 'train'/'val'/'test' entries.");
            return map;
        }
        catch (YamlException e)
        {
            throw new HpfDetException($"{path}:{e.Start.Line}: malformed YAML: {e.Message}. Fix the file.", e);
        }
        catch (InvalidOperationException e)
        {
            // YamlDotNet's scanner fails this way on some unterminated flow sequences, without a position.
            throw new HpfDetException($"{path}: malformed YAML ({e.Message}); check brackets and quotes.", e);
        }
    }

    static YamlScalarNode? Scalar(YamlMappingNode map, string key) =>
        map.Children.TryGetValue(new YamlScalarNode(key), out var node) ? node as YamlScalarNode : null;

    static List<string> ReadNames(YamlMappingNode yaml, string path)
    {
        if (!yaml.Children.TryGetValue(new YamlScalarNode("names"), out var node))
            throw new HpfDetException($"{path}: no 'names' entry; add the class names, e.g. names: ['car', 'bus'].");
        List<string> names;
        switch (node)
        {
            case YamlSequenceNode seq:
                names = seq.Children.Select(c => (c as YamlScalarNode)?.Value ?? "").ToList();
                break;
            case YamlMappingNode map: // names: {0: car, 1: bus}
                var byIndex = new SortedDictionary<int, string>();
                foreach (var (k, v) in map.Children)
                {
                    if (!int.TryParse((k as YamlScalarNode)?.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var idx) || idx < 0)
                        throw new HpfDetException($"{path}:{k.Start.Line}: names key '{k}' is not a class index.");
                    byIndex[idx] = (v as YamlScalarNode)?.Value ?? "";
                }
                if (byIndex.Count > 0 && byIndex.Keys.Last() != byIndex.Count - 1)
                    throw new HpfDetException($"{path}:{node.Start.Line}: names indices must run 0..{byIndex.Count - 1} without gaps.");
                names = byIndex.Values.ToList();
                break;
            default:
                throw new HpfDetException($"{path}:{node.Start.Line}: 'names' must be a list or an index-to-name mapping.");
        }
        if (names.Count == 0 || names.Any(string.IsNullOrWhiteSpace))
            throw new HpfDetException($"{path}:{node.Start.Line}: 'names' must list at least one non-empty class name.");
        return names;
    }
}
