using System.Text.Json;

namespace HpfDet.Evaluation;

/// <summary>One detection in COCO results layout: box [x, y, w, h] in pixels and a confidence score.</summary>
public readonly record struct CocoDetection(long ImageId, int CategoryId, double X, double Y, double W, double H, double Score);

/// <summary>
/// A COCO results list held as columns (one array per field) so that half a million detections
/// cost a few tens of MB. Built from a file, a JSON string or in-memory detections; NaN, infinite or
/// negative scores and non-finite boxes are errors.
/// </summary>
public sealed class CocoDetections
{
    readonly long[] _imageIds;
    readonly int[] _categoryIds;
    readonly double[] _boxes; // [N, 4] x, y, w, h
    readonly double[] _scores;

    public int Count { get; }

    /// <summary>Builds the list from detections (validated: finite box, finite score >= 0).</summary>
    public CocoDetections(IEnumerable<CocoDetection> detections)
    {
        var list = detections as IReadOnlyList<CocoDetection> ?? detections.ToList();
        Count = list.Count;
        _imageIds = new long[Count];
        _categoryIds = new int[Count];
        _boxes = new double[Count * 4];
        _scores = new double[Count];
        for (var i = 0; i < Count; i++)
        {
            var d = list[i];
            _imageIds[i] = d.ImageId;
            _categoryIds[i] = d.CategoryId;
            _boxes[4 * i] = d.X; _boxes[4 * i + 1] = d.Y; _boxes[4 * i + 2] = d.W; _boxes[4 * i + 3] = d.H;
            _scores[i] = d.Score;
        }
        Validate("detections");
    }

    CocoDetections(long[] imageIds, int[] categoryIds, double[] boxes, double[] scores, int count, string source)
    {
        _imageIds = imageIds; _categoryIds = categoryIds; _boxes = boxes; _scores = scores; Count = count;
        Validate(source);
    }

    /// <summary>The i-th detection.</summary>
    public CocoDetection this[int i] => new(_imageIds[i], _categoryIds[i], _boxes[4 * i], _boxes[4 * i + 1], _boxes[4 * i + 2], _boxes[4 * i + 3], _scores[i]);

    internal ReadOnlySpan<long> ImageIds => _imageIds.AsSpan(0, Count);
    internal ReadOnlySpan<int> CategoryIds => _categoryIds.AsSpan(0, Count);
    /// <summary>[N * 4] x, y, w, h.</summary>
    internal ReadOnlySpan<double> Boxes => _boxes.AsSpan(0, 4 * Count);
    internal ReadOnlySpan<double> Scores => _scores.AsSpan(0, Count);

    void Validate(string source)
    {
        var bad = new List<string>();
        var badCount = 0;
        for (var i = 0; i < Count; i++)
        {
            var s = _scores[i];
            string? why = !double.IsFinite(s) ? $"score {s}" : s < 0 ? $"negative score {s}" : null;
            if (why is null && (!double.IsFinite(_boxes[4 * i]) || !double.IsFinite(_boxes[4 * i + 1]) || !double.IsFinite(_boxes[4 * i + 2]) || !double.IsFinite(_boxes[4 * i + 3])))
                why = "non-finite bbox";
            if (why is null) continue;
            if (++badCount <= 10) bad.Add($"[{i}] (image {_imageIds[i]}): {why}");
        }
        if (badCount > 0)
            throw new HpfDetException($"{source}: {badCount} detection(s) with an invalid score or box: {string.Join("; ", bad)}{(badCount > 10 ? "; ..." : "")}. " +
                "Scores must be finite and >= 0 and boxes finite; fix the model output or the file.");
    }

    /// <summary>Loads a COCO results file: a JSON array of {image_id, category_id, bbox: [x, y, w, h], score}.</summary>
    /// <summary>Writes the detections as a COCO results JSON file ([{image_id, category_id, bbox, score}]).</summary>
    public void Save(string path)
    {
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        using var stream = File.Create(path);
        using var w = new System.Text.Json.Utf8JsonWriter(stream);
        w.WriteStartArray();
        for (int i = 0; i < Count; i++)
        {
            var d = this[i];
            w.WriteStartObject();
            w.WriteNumber("image_id", d.ImageId);
            w.WriteNumber("category_id", d.CategoryId);
            w.WriteStartArray("bbox");
            w.WriteNumberValue(Math.Round(d.X, 3)); w.WriteNumberValue(Math.Round(d.Y, 3)); w.WriteNumberValue(Math.Round(d.W, 3)); w.WriteNumberValue(Math.Round(d.H, 3));
            w.WriteEndArray();
            w.WriteNumber("score", Math.Round(d.Score, 5));
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    public static CocoDetections Load(string path) => Parse(CocoJson.ReadFile(path, "Results"), $"'{path}'");

    /// <summary>Parses COCO results JSON text.</summary>
    public static CocoDetections Parse(string json) => Parse(CocoJson.Utf8.GetBytes(json), "results JSON");

    /// <summary>Parses COCO results JSON bytes (UTF-8) with a streaming reader; <paramref name="source"/> names it in errors.</summary>
    public static CocoDetections Parse(byte[] json, string source)
    {
        // A results entry takes about 90 bytes of JSON; start near the final size to avoid regrowing.
        var capacity = Math.Max(16, json.Length / 80);
        var imageIds = new long[capacity];
        var categoryIds = new int[capacity];
        var boxes = new double[capacity * 4];
        var scores = new double[capacity];
        var n = 0;
        try
        {
            var r = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
            if (!r.Read() || r.TokenType != JsonTokenType.StartArray)
                throw CocoJson.Error(source, json, r.TokenStartIndex, "expected a JSON array of detections", "A COCO results file is a list of {image_id, category_id, bbox, score}.");
            while (r.Read() && r.TokenType != JsonTokenType.EndArray)
            {
                if (r.TokenType != JsonTokenType.StartObject)
                    throw CocoJson.Error(source, json, r.TokenStartIndex, $"results[{n}] must be an object", "Fix the file.");
                var start = r.TokenStartIndex;
                long? imageId = null, categoryId = null; double? score = null;
                double x = 0, y = 0, w = 0, h = 0; var hasBox = false;
                while (r.Read() && r.TokenType != JsonTokenType.EndObject)
                {
                    if (r.ValueTextEquals("image_id"u8)) imageId = CocoJson.ReadId(ref r, source, json, "image_id");
                    else if (r.ValueTextEquals("category_id"u8)) categoryId = CocoJson.ReadId(ref r, source, json, "category_id");
                    else if (r.ValueTextEquals("bbox"u8)) { CocoJson.ReadBox(ref r, source, json, out x, out y, out w, out h); hasBox = true; }
                    else if (r.ValueTextEquals("score"u8)) score = CocoJson.ReadDouble(ref r, source, json, "score");
                    else { r.Read(); r.Skip(); }
                }
                string? missing = imageId is null ? "image_id" : categoryId is null ? "category_id" : !hasBox ? "bbox" : score is null ? "score" : null;
                if (missing != null)
                    throw CocoJson.Error(source, json, start, $"results[{n}] has no '{missing}'", "Every detection needs image_id, category_id, bbox [x, y, w, h] and score.");
                if (categoryId < int.MinValue || categoryId > int.MaxValue)
                    throw CocoJson.Error(source, json, start, $"results[{n}] has category_id {categoryId} outside the 32-bit range", "Fix the category id.");
                if (n == scores.Length)
                {
                    var c = scores.Length * 2;
                    Array.Resize(ref imageIds, c); Array.Resize(ref categoryIds, c); Array.Resize(ref scores, c); Array.Resize(ref boxes, 4 * c);
                }
                imageIds[n] = imageId!.Value; categoryIds[n] = (int)categoryId!.Value; scores[n] = score!.Value;
                boxes[4 * n] = x; boxes[4 * n + 1] = y; boxes[4 * n + 2] = w; boxes[4 * n + 3] = h;
                n++;
            }
        }
        catch (JsonException e) { throw CocoJson.SyntaxError(source, e); }
        return new CocoDetections(imageIds, categoryIds, boxes, scores, n, source);
    }
}
