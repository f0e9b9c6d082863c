using HpfDet.Evaluation;

namespace HpfDet.Data;

/// <summary>
/// Reads a COCO instances JSON (images, annotations, categories) with its image folder, through the
/// same parser as the evaluation ground truth (<see cref="CocoGroundTruth"/>). Category ids are mapped
/// to contiguous indices in ascending id order; <see cref="DetectionDataset.CocoCategoryIds"/> maps
/// them back. bbox [x, y, w, h] becomes xyxy. Also reads Roboflow's COCO export: a folder holding
/// train/, valid/ and test/, each with its images and _annotations.coco.json.
/// </summary>
public static class CocoDatasetReader
{
    /// <summary>The annotation file name in each split folder of a Roboflow COCO export.</summary>
    public const string RoboflowAnnotationFile = "_annotations.coco.json";

    /// <summary>
    /// Reads <paramref name="jsonPath"/>; images are looked up in <paramref name="imageDir"/> (default:
    /// the JSON's folder). When <paramref name="jsonPath"/> is a folder, it is a Roboflow export: its
    /// <paramref name="split"/> folder (train, valid/val, test; default train) or, without split folders,
    /// the folder itself holds _annotations.coco.json beside the images.
    /// </summary>
    public static DetectionDataset Read(string jsonPath, string? imageDir = null, DataReadOptions? options = null, string? split = null)
    {
        options ??= DataReadOptions.Default;
        jsonPath = Path.GetFullPath(jsonPath);
        if (Directory.Exists(jsonPath))
        {
            jsonPath = RoboflowSplitFile(jsonPath, split ?? "train");
            imageDir ??= Path.GetDirectoryName(jsonPath);
        }
        if (!File.Exists(jsonPath))
            throw new HpfDetException($"COCO annotation file '{jsonPath}' not found.");
        imageDir = Path.GetFullPath(imageDir ?? Path.GetDirectoryName(jsonPath)!);
        if (!Directory.Exists(imageDir))
            throw new HpfDetException($"Image folder '{imageDir}' for '{jsonPath}' not found; pass the folder holding the images.");

        byte[] bytes;
        try { bytes = CocoJson.ReadFile(jsonPath, "COCO annotation"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new HpfDetException($"COCO annotation file '{jsonPath}' cannot be read: {e.Message}", e);
        }
        var coco = CocoGroundTruth.ParseInstances(bytes, $"'{jsonPath}'");

        // Categories: sorted by id → contiguous index.
        var categories = new List<(int Id, string Name)>();
        foreach (var (c, i) in coco.Categories.Select((c, i) => (c, i)))
        {
            if (categories.Any(x => x.Id == c.Id))
                throw new HpfDetException($"{jsonPath}: categories[{i}] repeats category id {c.Id}; category ids must be unique.");
            categories.Add((c.Id, c.Name));
        }
        if (categories.Count == 0)
            throw new HpfDetException($"{jsonPath}: 'categories' is empty; list the classes as {{\"id\": 1, \"name\": \"...\"}}.");
        categories.Sort((a, b) => a.Id.CompareTo(b.Id));
        var indexOfCategory = categories.Select((c, i) => (c.Id, i)).ToDictionary(t => t.Id, t => t.i);

        var issues = new DataIssues(options.Strict);
        var images = new List<(long Id, string File, string Path, int W, int H)>();
        var seenIds = new HashSet<long>();
        foreach (var (im, i) in coco.Images.Select((im, i) => (im, i)))
        {
            var where = $"images[{i}]";
            var (id, file) = (im.Id, im.FileName);
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
            (int, int)? declared = im.Width > 0 && im.Height > 0 ? (im.Width, im.Height) : null;
            if (SampleValidator.CheckImage(path, $"{jsonPath} ({where}, '{file}')", options, declared, issues, imageDir) is not { } size)
                continue;
            images.Add((id, file, path, size.Width, size.Height));
        }

        var boxesByImage = images.ToDictionary(im => im.Id, _ => new List<BoxAnnotation>());
        var sizeById = images.ToDictionary(im => im.Id, im => (im.W, im.H));
        foreach (var (a, i) in coco.Annotations.Select((a, i) => (a, i)))
        {
            var where = $"{jsonPath} (annotations[{i}])";
            if (!indexOfCategory.TryGetValue(a.CategoryId, out var label))
            {
                issues.Add(DataIssueKind.UnknownClass, where, $"category_id {a.CategoryId} is not in categories; box dropped");
                continue;
            }
            if (!boxesByImage.TryGetValue(a.ImageId, out var list))
            {
                // The image was skipped (already reported) or never listed.
                if (!seenIds.Contains(a.ImageId))
                    issues.Add(DataIssueKind.MalformedBox, where, $"image_id {a.ImageId} is not in images; box dropped");
                continue;
            }
            var (w, h) = sizeById[a.ImageId];
            var (x1, y1) = ((float)a.X, (float)a.Y);
            var box = SampleValidator.ClipOrDrop(new BoxAnnotation(x1, y1, (float)(a.X + a.W), (float)(a.Y + a.H), label, a.IsCrowd), w, h, where, issues);
            if (box != null) list.Add(box.Value);
        }

        var samples = images.Select(im => new DetectionSample(im.Id, im.Path, im.File, im.W, im.H, boxesByImage[im.Id]) { MaxImagePixels = options.MaxImagePixels }).ToList();
        return new DetectionDataset(jsonPath, categories.Select(c => c.Name).ToList(), samples, issues, categories.Select(c => c.Id).ToList());
    }

    /// <summary>True when <paramref name="folder"/> is a Roboflow COCO export (split folders, or the annotation file itself).</summary>
    public static bool IsRoboflowExport(string folder) =>
        Directory.Exists(folder) && (File.Exists(Path.Combine(folder, RoboflowAnnotationFile))
            || SplitFolderNames.Any(s => File.Exists(Path.Combine(folder, s, RoboflowAnnotationFile))));

    static readonly string[] SplitFolderNames = ["train", "valid", "val", "test"];

    /// <summary>The annotation file of <paramref name="split"/> in a Roboflow COCO export folder.</summary>
    static string RoboflowSplitFile(string folder, string split)
    {
        var direct = Path.Combine(folder, RoboflowAnnotationFile);
        string[] candidates = split is "val" or "valid" or "validation" ? ["valid", "val", "validation"] : [split];
        foreach (var c in candidates)
        {
            var dir = DatasetPaths.ResolveInside(folder, c);
            if (dir != null && File.Exists(Path.Combine(dir, RoboflowAnnotationFile))) return Path.Combine(dir, RoboflowAnnotationFile);
        }
        if (File.Exists(direct)) return direct;
        var found = SplitFolderNames.Where(s => File.Exists(Path.Combine(folder, s, RoboflowAnnotationFile))).ToList();
        throw new HpfDetException($"'{folder}' is a folder but holds no {RoboflowAnnotationFile} for split '{split}'"
            + (found.Count > 0 ? $"; splits found: {string.Join(", ", found)}." : $": pass the COCO annotation JSON, or a Roboflow COCO export (train/, valid/, test/ each with {RoboflowAnnotationFile})."));
    }
}
