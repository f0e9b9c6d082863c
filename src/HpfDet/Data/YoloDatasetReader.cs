using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace HpfDet.Data;

/// <summary>
/// Reads a YOLO export as Ultralytics resolves it: data.yaml names the classes and the train/val/test
/// images (a folder, searched recursively; a .txt list of image paths; or a list of either), relative
/// to <c>path:</c> or the yaml's folder, a leading "../" that does not exist being retried inside it
/// (Roboflow writes <c>train: ../train/images</c>). Each image's labels are at its path with the last
/// "/images/" replaced by "/labels/" and the extension by .txt, one "class cx cy w h" line per box,
/// normalised to [0, 1]. Polygon lines (class x1 y1 x2 y2 …) become their bounding box. An image
/// without a label file has no objects; a split whose label folder is missing is reported.
/// </summary>
public static class YoloDatasetReader
{
    static readonly string[] ImageExtensions = [".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif"];

    /// <summary>Label files larger than this are refused (a label file holds a few lines per object).</summary>
    public const long MaxLabelFileBytes = 16 << 20;

    /// <summary>Reads split <paramref name="split"/> ("train", "val"/"valid", "test") of the dataset described by <paramref name="dataYamlPath"/>.</summary>
    public static DetectionDataset Read(string dataYamlPath, string split = "train", DataReadOptions? options = null)
    {
        options ??= DataReadOptions.Default;
        dataYamlPath = Path.GetFullPath(dataYamlPath);
        if (Directory.Exists(dataYamlPath)) dataYamlPath = Path.Combine(dataYamlPath, "data.yaml");
        if (!File.Exists(dataYamlPath))
            throw new HpfDetException($"YOLO data file '{dataYamlPath}' not found: pass the data.yaml of the export (or its folder).");
        var yamlDir = Path.GetDirectoryName(dataYamlPath)!;
        var yaml = LoadYaml(dataYamlPath);

        var classNames = ReadNames(yaml, dataYamlPath);
        if (Scalar(yaml, "nc") is { } ncNode)
        {
            if (!int.TryParse(ncNode.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var nc) || nc != classNames.Count)
                throw new HpfDetException($"{dataYamlPath}:{ncNode.Start.Line}: nc is {ncNode.Value} but names lists {classNames.Count} classes; make them agree.");
        }

        var root = DatasetRoot(yaml, dataYamlPath, yamlDir);
        var key = split is "valid" or "validation" ? "val" : split;
        if (!yaml.Children.TryGetValue(new YamlScalarNode(key), out var splitNode) && key == "val")
            yaml.Children.TryGetValue(new YamlScalarNode("valid"), out splitNode);
        if (splitNode == null)
            throw new HpfDetException($"{dataYamlPath}: no '{key}' entry; this file lists: {string.Join(", ", yaml.Children.Keys.OfType<YamlScalarNode>().Select(k => k.Value))}.");
        var entries = splitNode switch
        {
            YamlScalarNode sc when !string.IsNullOrWhiteSpace(sc.Value) => [sc],
            YamlSequenceNode seq when seq.Children.Count > 0 && seq.Children.All(c => c is YamlScalarNode { Value.Length: > 0 }) => seq.Children.Cast<YamlScalarNode>().ToList(),
            _ => throw new HpfDetException($"{dataYamlPath}:{splitNode.Start.Line}: '{key}' must be a folder, an image-list .txt file, or a list of them."),
        };

        var issues = new DataIssues(options.Strict);
        var imagePaths = new List<string>();
        foreach (var entry in entries)
            imagePaths.AddRange(ImagesOf(ResolveEntry(entry, key, root, dataYamlPath), root, dataYamlPath, entry.Start.Line, issues));

        var samples = new List<DetectionSample>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var missingLabelFolders = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var imagePath in imagePaths)
        {
            if (!seen.Add(imagePath))
            {
                issues.Add(DataIssueKind.DuplicateImageId, dataYamlPath, $"image '{imagePath}' is listed twice for '{key}'; counted once");
                continue;
            }
            var size = SampleValidator.CheckImage(imagePath, imagePath, options, null, issues, root,
                options.ImageCheck == ImageCheck.Exists ? ImageCheck.Header : options.ImageCheck);
            if (size is not { } wh) continue;
            var labelPath = LabelPathFor(imagePath);
            List<BoxAnnotation> boxes;
            if (File.Exists(labelPath))
            {
                if (!SampleValidator.CheckLink(root, labelPath, labelPath, "label file", options, issues)) continue;
                if (ReadLabels(labelPath, wh.Width, wh.Height, classNames.Count, issues) is not { } read) continue;
                boxes = read;
            }
            else if (Directory.Exists(labelPath))
            {
                issues.Add(DataIssueKind.MalformedAnnotation, labelPath, "label path is a folder, not a file; sample skipped");
                continue;
            }
            else
            {
                var folder = Path.GetDirectoryName(labelPath)!;
                if (!Directory.Exists(folder)) missingLabelFolders[folder] = missingLabelFolders.GetValueOrDefault(folder) + 1;
                boxes = [];
            }
            samples.Add(new DetectionSample(samples.Count + 1, imagePath, Path.GetRelativePath(root, imagePath), wh.Width, wh.Height, boxes)
                { MaxImagePixels = options.MaxImagePixels });
        }
        foreach (var (folder, count) in missingLabelFolders)
            issues.Add(DataIssueKind.MissingLabels, folder,
                $"label folder not found: {count} image(s) read as background (no objects). YOLO labels go in the folder named like the images' with 'images' replaced by 'labels'");
        return new DetectionDataset($"{dataYamlPath} [{split}]", classNames, samples, issues);
    }

    /// <summary>
    /// The dataset folder: <c>path:</c> (absolute, or relative to the yaml's folder) or the yaml's
    /// folder. It must contain the yaml or lie inside the yaml's folder, so that a downloaded data.yaml
    /// cannot point the reader at unrelated folders.
    /// </summary>
    static string DatasetRoot(YamlMappingNode yaml, string dataYamlPath, string yamlDir)
    {
        if (Scalar(yaml, "path") is not { Value: { Length: > 0 } basePath } baseNode || basePath == ".") return yamlDir;
        var root = Path.GetFullPath(Path.IsPathRooted(basePath) ? basePath : Path.Combine(yamlDir, basePath));
        if (!Directory.Exists(root))
            throw new HpfDetException($"{dataYamlPath}:{baseNode.Start.Line}: path '{basePath}' ({root}) not found. Point it at the dataset folder, or remove it to use the yaml's folder.");
        var (realRoot, realYamlDir) = (DatasetPaths.RealPath(root) ?? root, DatasetPaths.RealPath(yamlDir) ?? yamlDir);
        if (!DatasetPaths.IsInside(realRoot, realYamlDir) && !DatasetPaths.IsInside(realYamlDir, realRoot))
            throw new HpfDetException($"{dataYamlPath}:{baseNode.Start.Line}: path '{basePath}' names '{root}', which neither holds this data.yaml nor lies inside its folder; refused. "
                + "Point it at the dataset folder (the one holding data.yaml), or remove it.");
        return root;
    }

    /// <summary>One train/val/test entry resolved as Ultralytics does, kept inside the dataset folder.</summary>
    static string ResolveEntry(YamlScalarNode entry, string key, string root, string dataYamlPath)
    {
        var value = entry.Value!.Trim();
        var candidates = new List<string> { Path.GetFullPath(Path.IsPathRooted(value) ? value : Path.Combine(root, value)) };
        if (value.StartsWith("../", StringComparison.Ordinal)) candidates.Add(Path.GetFullPath(Path.Combine(root, value[3..])));
        var existing = candidates.Where(c => Directory.Exists(c) || File.Exists(c)).ToList();
        var inside = existing.FirstOrDefault(c => !DatasetPaths.LeavesRoot(root, c));
        if (inside != null) return inside;
        if (existing.Count > 0 || candidates.All(c => !DatasetPaths.IsInside(root, c)))
            throw new HpfDetException($"{dataYamlPath}:{entry.Start.Line}: {key} '{value}' would leave the dataset folder '{root}'; refused. "
                + "Keep the images inside the dataset folder (paths relative to data.yaml or 'path:').");
        throw new HpfDetException($"{dataYamlPath}:{entry.Start.Line}: {key} images '{value}' not found (looked for {string.Join(" and ", candidates.Select(c => $"'{c}'"))}).");
    }

    /// <summary>The images of one resolved entry: a folder (recursively, sorted) or a .txt list of image paths.</summary>
    static List<string> ImagesOf(string resolved, string root, string dataYamlPath, long yamlLine, DataIssues issues)
    {
        if (Directory.Exists(resolved))
            return Directory.EnumerateFiles(resolved, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true } /* skips dot files, as Python's glob */)
                .Where(f => ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                .Order(StringComparer.Ordinal).ToList();
        if (!resolved.EndsWith(".txt", StringComparison.OrdinalIgnoreCase))
            throw new HpfDetException($"{dataYamlPath}:{yamlLine}: '{resolved}' is a file but not a .txt list of images; name a folder of images or an image-list .txt.");
        var listDir = Path.GetDirectoryName(resolved)!;
        var images = new List<string>();
        foreach (var (lineNumber, line) in ListFile.Entries(resolved))
        {
            // Ultralytics writes "./images/x.jpg", relative to the list's folder.
            var full = Path.GetFullPath(Path.IsPathRooted(line) ? line : Path.Combine(listDir, line));
            if (!DatasetPaths.IsInside(Path.GetFullPath(root), full))
            {
                issues.Add(DataIssueKind.PathEscape, resolved, "listed image would leave the dataset folder; refused", lineNumber);
                continue;
            }
            if (!ImageExtensions.Contains(Path.GetExtension(full).ToLowerInvariant()))
            {
                issues.Add(DataIssueKind.MissingImage, resolved, $"listed path '{full}' is not a JPEG, PNG, BMP, WebP or GIF file name; skipped", lineNumber);
                continue;
            }
            images.Add(full);
        }
        return images;
    }

    /// <summary>Ultralytics' rule: the last "/images/" of the image path becomes "/labels/", the extension ".txt".</summary>
    public static string LabelPathFor(string imagePath)
    {
        var sep = Path.DirectorySeparatorChar;
        string imagesPart = $"{sep}images{sep}", labelsPart = $"{sep}labels{sep}";
        var i = imagePath.LastIndexOf(imagesPart, StringComparison.Ordinal);
        var labelled = i < 0 ? imagePath : imagePath[..i] + labelsPart + imagePath[(i + imagesPart.Length)..];
        return Path.ChangeExtension(labelled, ".txt");
    }

    /// <summary>The boxes of a label file, or null (after recording why) when the file as a whole is unusable.</summary>
    static List<BoxAnnotation>? ReadLabels(string labelPath, int width, int height, int classCount, DataIssues issues)
    {
        var boxes = new List<BoxAnnotation>();
        var lineNumber = 0;
        IEnumerable<string> lines;
        try
        {
            var info = new FileInfo(labelPath);
            if (info.Length > MaxLabelFileBytes)
            {
                issues.Add(DataIssueKind.MalformedAnnotation, labelPath, $"label file is {info.Length:N0} bytes, more than {MaxLabelFileBytes:N0}; not a label file, sample skipped");
                return null;
            }
            lines = File.ReadAllLines(labelPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            issues.Add(DataIssueKind.MalformedAnnotation, labelPath, $"label file cannot be read ({e.GetType().Name}); sample skipped");
            return null;
        }
        foreach (var raw in lines)
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
                // The line itself is not echoed: a file that is not a label file must not leak into logs.
                issues.Add(DataIssueKind.MalformedBox, labelPath,
                    $"expected 'class cx cy w h' (or a polygon: class x1 y1 x2 y2 x3 y3 ...), got {fields.Length} field(s){(numeric ? "" : " that are not all numbers")}; dropped", lineNumber);
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
        var firstIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < names.Count; i++)
            if (!firstIndex.TryAdd(names[i], i))
                throw new HpfDetException($"{path}:{node.Start.Line}: class name '{names[i]}' appears twice in 'names' (indices {firstIndex[names[i]]} and {i}); each class needs its own name.");
        return names;
    }
}
