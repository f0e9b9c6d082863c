using System.Text.Json;

namespace HpfDet.Evaluation;

/// <summary>A COCO image entry.</summary>
public sealed record CocoImage(long Id, int Width = 0, int Height = 0, string FileName = "");

/// <summary>A COCO category entry.</summary>
public sealed record CocoCategory(int Id, string Name, string? Supercategory = null);

/// <summary>
/// A COCO ground-truth box. Box is [x, y, w, h] in pixels (COCO layout). <see cref="Area"/> is used
/// for the area ranges (as pycocotools does); <see cref="IsCrowd"/> marks a crowd region;
/// <see cref="Difficult"/> (JSON <c>difficult</c> or <c>ignore</c>) is used by the VOC metric only.
/// </summary>
public readonly record struct CocoAnnotation(
    long Id, long ImageId, int CategoryId, double X, double Y, double W, double H,
    double Area, bool IsCrowd = false, bool Difficult = false)
{
    /// <summary>An annotation whose area is the box area w*h.</summary>
    public static CocoAnnotation FromBox(long id, long imageId, int categoryId, double x, double y, double w, double h, bool isCrowd = false, bool difficult = false) =>
        new(id, imageId, categoryId, x, y, w, h, w * h, isCrowd, difficult);
}

/// <summary>
/// COCO ground truth: images, categories and box annotations. Built from a file, a JSON string,
/// or in-memory objects. Annotations on unknown images or with unknown categories are dropped and
/// counted in <see cref="Report"/> (pycocotools drops them too).
/// </summary>
public sealed class CocoGroundTruth
{
    public IReadOnlyList<CocoImage> Images { get; }
    public IReadOnlyList<CocoCategory> Categories { get; }
    /// <summary>The annotations kept for evaluation, in file order.</summary>
    public IReadOnlyList<CocoAnnotation> Annotations { get; }
    /// <summary>Defaults applied and entries dropped while loading.</summary>
    public GroundTruthReport Report { get; }

    /// <summary>Builds the ground truth from objects. Missing fields are the caller's business here
    /// (use <see cref="CocoAnnotation.FromBox"/> for area = w*h).</summary>
    public CocoGroundTruth(IEnumerable<CocoImage> images, IEnumerable<CocoCategory> categories, IEnumerable<CocoAnnotation> annotations)
        : this(images.ToList(), categories.ToList(), annotations.ToList(), 0, 0, "ground truth") { }

    CocoGroundTruth(List<CocoImage> images, List<CocoCategory> categories, List<CocoAnnotation> annotations,
        int defaultedIsCrowd, int defaultedArea, string source)
    {
        var imageIds = new HashSet<long>();
        foreach (var im in images)
            if (!imageIds.Add(im.Id))
                throw new HpfDetException($"{source}: image id {im.Id} appears twice in 'images'. Image ids must be unique.");
        var catIds = new HashSet<int>();
        foreach (var c in categories)
            if (!catIds.Add(c.Id))
                throw new HpfDetException($"{source}: category id {c.Id} appears twice in 'categories'. Category ids must be unique.");

        var kept = new List<CocoAnnotation>(annotations.Count);
        var annIds = new HashSet<long>();
        int onUnknownImage = 0, unknownCategory = 0;
        for (var i = 0; i < annotations.Count; i++)
        {
            var a = annotations[i];
            if (!annIds.Add(a.Id))
                throw new HpfDetException($"{source}: annotations[{i}] has id {a.Id}, which an earlier annotation already has. Annotation ids must be unique.");
            if (!double.IsFinite(a.X) || !double.IsFinite(a.Y) || !double.IsFinite(a.W) || !double.IsFinite(a.H) || !double.IsFinite(a.Area))
                throw new HpfDetException($"{source}: annotations[{i}] (id {a.Id}) has a non-finite bbox or area. Fix the annotation.");
            if (!imageIds.Contains(a.ImageId)) { onUnknownImage++; continue; }
            if (!catIds.Contains(a.CategoryId)) { unknownCategory++; continue; }
            kept.Add(a);
        }

        var warnings = new List<string>();
        if (defaultedIsCrowd > 0) warnings.Add($"{source}: {defaultedIsCrowd} annotation(s) without 'iscrowd' were taken as iscrowd=0.");
        if (defaultedArea > 0) warnings.Add($"{source}: {defaultedArea} annotation(s) without 'area' were given area = bbox width*height.");
        if (onUnknownImage > 0) warnings.Add($"{source}: {onUnknownImage} annotation(s) on image ids not listed in 'images' were dropped.");
        if (unknownCategory > 0) warnings.Add($"{source}: {unknownCategory} annotation(s) with category ids not listed in 'categories' were dropped.");

        Images = images;
        Categories = categories;
        Annotations = kept;
        Report = new GroundTruthReport(defaultedIsCrowd, defaultedArea, onUnknownImage, unknownCategory, warnings);
    }

    /// <summary>Loads a COCO ground-truth JSON file (images, annotations, categories; other fields ignored).</summary>
    public static CocoGroundTruth Load(string path) =>
        Parse(CocoJson.ReadFile(path, "Ground-truth"), $"'{path}'");

    /// <summary>Parses COCO ground-truth JSON text.</summary>
    public static CocoGroundTruth Parse(string json) => Parse(CocoJson.Utf8.GetBytes(json), "ground-truth JSON");

    /// <summary>Parses COCO ground-truth JSON bytes (UTF-8); <paramref name="source"/> names it in errors.</summary>
    public static CocoGroundTruth Parse(byte[] json, string source)
    {
        var c = ParseInstances(json, source);
        // Evaluation matches by annotation id (as pycocotools does); a training reader needs none.
        if (c.MissingAnnotationId is { } missing) throw missing;
        return new CocoGroundTruth(c.Images, c.Categories, c.Annotations, c.DefaultedIsCrowd, c.DefaultedArea, source);
    }

    /// <summary>
    /// The one COCO instances parser (the evaluation ground truth and the training dataset reader
    /// both use it): typed entries as written, with errors naming the entry and field; checks across
    /// entries (unique ids, known images) are the caller's.
    /// </summary>
    internal static CocoInstances ParseInstances(byte[] json, string source)
    {
        var images = new List<CocoImage>();
        var categories = new List<CocoCategory>();
        var annotations = new List<CocoAnnotation>();
        int defaultedIsCrowd = 0, defaultedArea = 0;
        bool sawImages = false, sawCategories = false;
        HpfDetException? missingId = null;
        try
        {
            var r = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
            if (!r.Read() || r.TokenType != JsonTokenType.StartObject)
                throw CocoJson.Error(source, json, r.TokenStartIndex, "expected a JSON object with 'images', 'annotations' and 'categories'", "Give a COCO ground-truth file, not a results list.");
            while (r.Read() && r.TokenType != JsonTokenType.EndObject)
            {
                if (r.ValueTextEquals("images"u8)) { sawImages = true; ReadArray(ref r, json, source, "images", (ref Utf8JsonReader rr, int i) => images.Add(ReadImage(ref rr, json, source, i))); }
                else if (r.ValueTextEquals("categories"u8)) { sawCategories = true; ReadArray(ref r, json, source, "categories", (ref Utf8JsonReader rr, int i) => categories.Add(ReadCategory(ref rr, json, source, i))); }
                else if (r.ValueTextEquals("annotations"u8))
                    ReadArray(ref r, json, source, "annotations", (ref Utf8JsonReader rr, int i) => annotations.Add(ReadAnnotation(ref rr, json, source, i, ref defaultedIsCrowd, ref defaultedArea, ref missingId)));
                else { r.Read(); r.Skip(); }
            }
        }
        catch (JsonException e) { throw CocoJson.SyntaxError(source, e); }
        if (!sawImages) throw new HpfDetException($"{source}: no 'images' list. A COCO instances file needs 'images', 'annotations' and 'categories'.");
        if (!sawCategories) throw new HpfDetException($"{source}: no 'categories' list. A COCO instances file needs 'images', 'annotations' and 'categories'.");
        return new CocoInstances(images, categories, annotations, defaultedIsCrowd, defaultedArea, missingId);
    }

    delegate void ElementReader(ref Utf8JsonReader r, int index);

    static void ReadArray(ref Utf8JsonReader r, ReadOnlySpan<byte> json, string source, string name, ElementReader read)
    {
        r.Read();
        if (r.TokenType != JsonTokenType.StartArray)
            throw CocoJson.Error(source, json, r.TokenStartIndex, $"'{name}' must be an array", "Fix the file.");
        var i = 0;
        while (r.Read() && r.TokenType != JsonTokenType.EndArray)
        {
            if (r.TokenType != JsonTokenType.StartObject)
                throw CocoJson.Error(source, json, r.TokenStartIndex, $"{name}[{i}] must be an object", "Fix the file.");
            read(ref r, i++);
        }
    }

    static CocoImage ReadImage(ref Utf8JsonReader r, ReadOnlySpan<byte> json, string source, int index)
    {
        var start = r.TokenStartIndex;
        var place = new JsonPlace("images", index);
        long? id = null; int w = 0, h = 0; string file = "";
        while (r.Read() && r.TokenType != JsonTokenType.EndObject)
        {
            if (r.ValueTextEquals("id"u8)) id = CocoJson.ReadId(ref r, source, json, "id", place);
            else if (r.ValueTextEquals("width"u8)) w = ReadSize(ref r, json, source, "width", place);
            else if (r.ValueTextEquals("height"u8)) h = ReadSize(ref r, json, source, "height", place);
            else if (r.ValueTextEquals("file_name"u8)) file = CocoJson.ReadStringOrNull(ref r) ?? "";
            else { r.Read(); r.Skip(); }
        }
        if (id is null) throw CocoJson.Error(source, json, start, $"images[{index}] has no 'id'", "Every image needs an integer id.");
        return new CocoImage(id.Value, w, h, file);
    }

    /// <summary>An image width or height: a whole number 0..int.MaxValue (0: not given).</summary>
    static int ReadSize(ref Utf8JsonReader r, ReadOnlySpan<byte> json, string source, string field, JsonPlace place)
    {
        var v = CocoJson.ReadDouble(ref r, source, json, field, place);
        if (v < 0 || v > int.MaxValue || v != Math.Floor(v))
            throw CocoJson.Error(source, json, r.TokenStartIndex, $"{place.Name(field)} must be a whole number of pixels, found {v}", "Fix the value in the file.");
        return (int)v;
    }

    static CocoCategory ReadCategory(ref Utf8JsonReader r, ReadOnlySpan<byte> json, string source, int index)
    {
        var start = r.TokenStartIndex;
        var place = new JsonPlace("categories", index);
        long? id = null; string? name = null, super = null;
        while (r.Read() && r.TokenType != JsonTokenType.EndObject)
        {
            if (r.ValueTextEquals("id"u8)) id = CocoJson.ReadId(ref r, source, json, "id", place);
            else if (r.ValueTextEquals("name"u8)) name = CocoJson.ReadStringOrNull(ref r);
            else if (r.ValueTextEquals("supercategory"u8)) super = CocoJson.ReadStringOrNull(ref r);
            else { r.Read(); r.Skip(); }
        }
        if (id is null || id < int.MinValue || id > int.MaxValue)
            throw CocoJson.Error(source, json, start, $"categories[{index}] has no 32-bit integer 'id'", "Every category needs an integer id.");
        return new CocoCategory((int)id.Value, name ?? id.Value.ToString(System.Globalization.CultureInfo.InvariantCulture), super);
    }

    static CocoAnnotation ReadAnnotation(ref Utf8JsonReader r, ReadOnlySpan<byte> json, string source, int index, ref int defaultedIsCrowd, ref int defaultedArea,
        ref HpfDetException? missingId)
    {
        var start = r.TokenStartIndex;
        var place = new JsonPlace("annotations", index);
        long? id = null, imageId = null, categoryId = null;
        double x = 0, y = 0, w = 0, h = 0; bool hasBox = false;
        double? area = null; bool? crowd = null; bool difficult = false;
        while (r.Read() && r.TokenType != JsonTokenType.EndObject)
        {
            if (r.ValueTextEquals("id"u8)) id = CocoJson.ReadId(ref r, source, json, "id", place);
            else if (r.ValueTextEquals("image_id"u8)) imageId = CocoJson.ReadId(ref r, source, json, "image_id", place);
            else if (r.ValueTextEquals("category_id"u8)) categoryId = CocoJson.ReadId(ref r, source, json, "category_id", place);
            else if (r.ValueTextEquals("bbox"u8)) { CocoJson.ReadBox(ref r, source, json, out x, out y, out w, out h, place); hasBox = true; }
            else if (r.ValueTextEquals("area"u8)) area = CocoJson.ReadDouble(ref r, source, json, "area", place);
            else if (r.ValueTextEquals("iscrowd"u8)) crowd = CocoJson.ReadFlag(ref r, source, json, "iscrowd", place);
            else if (r.ValueTextEquals("difficult"u8) || r.ValueTextEquals("ignore"u8))
                difficult |= CocoJson.ReadFlag(ref r, source, json, "difficult", place);
            else { r.Read(); r.Skip(); }
        }
        string Missing(string f) => $"annotations[{index}]{(id is null ? "" : $" (id {id})")} has no '{f}'";
        if (id is null) missingId ??= CocoJson.Error(source, json, start, Missing("id"), "Every annotation needs a unique integer id.");
        if (imageId is null) throw CocoJson.Error(source, json, start, Missing("image_id"), "Add the image id.");
        if (categoryId is null || categoryId < int.MinValue || categoryId > int.MaxValue) throw CocoJson.Error(source, json, start, Missing("category_id"), "Add a 32-bit integer category id.");
        if (!hasBox) throw CocoJson.Error(source, json, start, Missing("bbox"), "Add the box as [x, y, width, height].");
        if (crowd is null) defaultedIsCrowd++;
        if (area is null) defaultedArea++;
        return new CocoAnnotation(id ?? 0, imageId.Value, (int)categoryId.Value, x, y, w, h, area ?? w * h, crowd ?? false, difficult);
    }
}

/// <summary>The entries of a COCO instances file as written, before checks across entries.</summary>
internal sealed record CocoInstances(List<CocoImage> Images, List<CocoCategory> Categories, List<CocoAnnotation> Annotations,
    int DefaultedIsCrowd, int DefaultedArea, HpfDetException? MissingAnnotationId);

/// <summary>What loading the ground truth changed or dropped; <see cref="Warnings"/> says it in words.</summary>
public sealed record GroundTruthReport(
    int DefaultedIsCrowd, int DefaultedArea, int DroppedOnUnknownImage, int DroppedUnknownCategory, IReadOnlyList<string> Warnings);
