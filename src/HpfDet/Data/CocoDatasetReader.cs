using System.Text.Json;

namespace HpfDet.Data;

/// <summary>
/// Reads a COCO instances JSON (images, annotations, categories) with its image folder. Category ids
/// are mapped to contiguous indices in ascending id order; <see cref="DetectionDataset.CocoCategoryIds"/>
/// maps them back. bbox [x, y, w, h] becomes xyxy.
/// </summary>
public static class CocoDatasetReader
{
    /// <summary>Reads <paramref name="jsonPath"/>; images are looked up in <paramref name="imageDir"/> (default: the JSON's folder).</summary>
    public static DetectionDataset Read(string jsonPath, string? imageDir = null, DataReadOptions? options = null)
    {
        options ??= DataReadOptions.Default;
        jsonPath = Path.GetFullPath(jsonPath);
        if (!File.Exists(jsonPath))
            throw new HpfDetException($"COCO annotation file '{jsonPath}' not found.");
        imageDir = Path.GetFullPath(imageDir ?? Path.GetDirectoryName(jsonPath)!);
        if (!Directory.Exists(imageDir))
            throw new HpfDetException($"Image folder '{imageDir}' for '{jsonPath}' not found; pass the folder holding the images.");

        using var doc = Parse(jsonPath);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
            throw new HpfDetException($"{jsonPath}: the top level must be an object with images, annotations and categories.");

        // Categories: sorted by id → contiguous index.
        var categories = new List<(int Id, string Name)>();
        foreach (var (c, i) in Array(root, "categories", jsonPath).Select((c, i) => (c, i)))
        {
            var id = Int(c, "id", $"categories[{i}]", jsonPath);
            var name = c.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : $"class{id}";
            if (categories.Any(x => x.Id == id))
                throw new HpfDetException($"{jsonPath}: categories[{i}] repeats category id {id}; category ids must be unique.");
            categories.Add((id, name));
        }
        if (categories.Count == 0)
            throw new HpfDetException($"{jsonPath}: 'categories' is empty; list the classes as {{\"id\": 1, \"name\": \"...\"}}.");
        categories.Sort((a, b) => a.Id.CompareTo(b.Id));
        var indexOfCategory = categories.Select((c, i) => (c.Id, i)).ToDictionary(t => t.Id, t => t.i);

        var issues = new DataIssues(options.Strict);
        var images = new List<(long Id, string File, string Path, int W, int H)>();
        var seenIds = new HashSet<long>();
        foreach (var (im, i) in Array(root, "images", jsonPath).Select((im, i) => (im, i)))
        {
            var where = $"images[{i}]";
            var id = Long(im, "id", where, jsonPath);
            var file = im.TryGetProperty("file_name", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString()! : "";
            if (!seenIds.Add(id))
            {
                issues.Add(DataIssueKind.DuplicateImageId, jsonPath, $"{where} ('{file}') repeats image id {id}; skipped (its annotations go to the first image with that id)");
                continue;
            }
            if (file.Length == 0)
            {
                issues.Add(DataIssueKind.MalformedAnnotation, jsonPath, $"{where} (id {id}) has no file_name; skipped");
                continue;
            }
            var path = DatasetPaths.ResolveInside(imageDir, file);
            if (path == null)
            {
                issues.Add(DataIssueKind.PathEscape, jsonPath, $"{where} file_name '{file}' would leave the image folder '{imageDir}'; refused");
                continue;
            }
            (int, int)? declared = im.TryGetProperty("width", out var w) && im.TryGetProperty("height", out var h)
                && w.TryGetInt32(out var wi) && h.TryGetInt32(out var hi) && wi > 0 && hi > 0 ? (wi, hi) : null;
            if (SampleValidator.CheckImage(path, $"{jsonPath} ({where}, '{file}')", options.ImageCheck, declared, issues) is not { } size)
                continue;
            images.Add((id, file, path, size.Width, size.Height));
        }

        var boxesByImage = images.ToDictionary(im => im.Id, _ => new List<BoxAnnotation>());
        var sizeById = images.ToDictionary(im => im.Id, im => (im.W, im.H));
        if (root.TryGetProperty("annotations", out _))
        {
            foreach (var (a, i) in Array(root, "annotations", jsonPath).Select((a, i) => (a, i)))
            {
                var where = $"{jsonPath} (annotations[{i}])";
                if (!a.TryGetProperty("image_id", out var imId) || !imId.TryGetInt64(out var imageId)
                    || !a.TryGetProperty("category_id", out var catEl) || !catEl.TryGetInt32(out var categoryId)
                    || !a.TryGetProperty("bbox", out var bb) || bb.ValueKind != JsonValueKind.Array || bb.GetArrayLength() != 4
                    || bb.EnumerateArray().Any(v => v.ValueKind != JsonValueKind.Number))
                {
                    issues.Add(DataIssueKind.MalformedBox, where, "needs integer image_id and category_id and a 4-number bbox [x, y, w, h]; dropped");
                    continue;
                }
                if (!indexOfCategory.TryGetValue(categoryId, out var label))
                {
                    issues.Add(DataIssueKind.UnknownClass, where, $"category_id {categoryId} is not in categories; box dropped");
                    continue;
                }
                if (!boxesByImage.TryGetValue(imageId, out var list))
                {
                    // The image was skipped (already reported) or never listed.
                    if (!seenIds.Contains(imageId))
                        issues.Add(DataIssueKind.MalformedBox, where, $"image_id {imageId} is not in images; box dropped");
                    continue;
                }
                var v = bb.EnumerateArray().Select(e => e.GetSingle()).ToArray();
                var crowd = a.TryGetProperty("iscrowd", out var c) && c.TryGetInt32(out var ci) && ci != 0;
                var (w, h) = sizeById[imageId];
                var box = SampleValidator.ClipOrDrop(new BoxAnnotation(v[0], v[1], v[0] + v[2], v[1] + v[3], label, crowd), w, h, where, issues);
                if (box != null) list.Add(box.Value);
            }
        }

        var samples = images.Select(im => new DetectionSample(im.Id, im.Path, im.File, im.W, im.H, boxesByImage[im.Id])).ToList();
        return new DetectionDataset(jsonPath, categories.Select(c => c.Name).ToList(), samples, issues, categories.Select(c => c.Id).ToList());
    }

    static JsonDocument Parse(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            return JsonDocument.Parse(stream, new JsonDocumentOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            var line = e.LineNumber is { } l ? $":{l + 1}" : "";
            throw new HpfDetException($"{path}{line}: malformed JSON: {e.Message} Fix the file.", e);
        }
    }

    static IEnumerable<JsonElement> Array(JsonElement root, string name, string path)
    {
        if (!root.TryGetProperty(name, out var a) || a.ValueKind != JsonValueKind.Array)
            throw new HpfDetException($"{path}: '{name}' missing or not an array; a COCO instances file has images, annotations and categories arrays.");
        return a.EnumerateArray();
    }

    static int Int(JsonElement e, string field, string where, string path) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(field, out var v) && v.TryGetInt32(out var i)
            ? i : throw new HpfDetException($"{path}: {where}.{field} missing or not an integer.");

    static long Long(JsonElement e, string field, string where, string path) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(field, out var v) && v.TryGetInt64(out var i)
            ? i : throw new HpfDetException($"{path}: {where}.{field} missing or not an integer.");
}
