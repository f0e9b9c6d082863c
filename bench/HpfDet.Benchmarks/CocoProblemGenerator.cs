using System.Text.Json;

namespace HpfDet.Benchmarks;

/// <summary>
/// A deterministic COCO-val-sized evaluation problem: images with a few boxes of mixed sizes
/// (about 1% crowd), and per image a fixed number of detections: jittered copies of the ground
/// truth (some with the wrong class) plus background boxes, scores in [0, 1] rounded to 3 decimals.
/// </summary>
public static class CocoProblemGenerator
{
    /// <summary>Writes gt.json and dt.json into <paramref name="dir"/>; returns (gt boxes, detections).</summary>
    public static (int GtBoxes, int Detections) Write(string dir, int images = 5000, int categories = 80, double gtPerImage = 7.0, int detsPerImage = 100, int seed = 1)
    {
        Directory.CreateDirectory(dir);
        var rng = new Random(seed);
        int annId = 0, detCount = 0;
        using var gtStream = File.Create(Path.Combine(dir, "gt.json"));
        using var dtStream = File.Create(Path.Combine(dir, "dt.json"));
        using var gw = new Utf8JsonWriter(gtStream);
        using var dw = new Utf8JsonWriter(dtStream);
        gw.WriteStartObject();
        gw.WriteStartArray("images");
        var imageIds = new int[images];
        for (var i = 0; i < images; i++)
        {
            imageIds[i] = 1 + i * 7 + rng.Next(7); // sparse, unsorted in effect when shuffled below
            gw.WriteStartObject(); gw.WriteNumber("id", imageIds[i]); gw.WriteNumber("width", 640); gw.WriteNumber("height", 480);
            gw.WriteString("file_name", $"{imageIds[i]:D12}.jpg"); gw.WriteEndObject();
        }
        gw.WriteEndArray();
        gw.WriteStartArray("annotations");
        dw.WriteStartArray();
        var boxes = new List<(int Cat, double X, double Y, double W, double H)>();
        for (var i = 0; i < images; i++)
        {
            boxes.Clear();
            var n = (int)Math.Round(gtPerImage * 2 * rng.NextDouble());
            for (var j = 0; j < n; j++)
            {
                var (x, y, w, h) = RandomBox(rng);
                var cat = 1 + rng.Next(categories);
                boxes.Add((cat, x, y, w, h));
                var crowd = rng.NextDouble() < 0.01;
                gw.WriteStartObject();
                gw.WriteNumber("id", ++annId); gw.WriteNumber("image_id", imageIds[i]); gw.WriteNumber("category_id", cat);
                WriteBox(gw, x, y, w, h);
                gw.WriteNumber("area", Math.Round(w * h * (0.6 + 0.4 * rng.NextDouble()), 2));
                gw.WriteNumber("iscrowd", crowd ? 1 : 0);
                gw.WriteEndObject();
            }
            for (var d = 0; d < detsPerImage; d++)
            {
                int cat; double x, y, w, h, score;
                if (boxes.Count > 0 && d < 2 * boxes.Count)
                {
                    var g = boxes[d % boxes.Count];
                    var jitter = d < boxes.Count ? 0.1 : 0.3;
                    x = g.X + g.W * jitter * (rng.NextDouble() - 0.5); y = g.Y + g.H * jitter * (rng.NextDouble() - 0.5);
                    w = g.W * (1 + jitter * (rng.NextDouble() - 0.5)); h = g.H * (1 + jitter * (rng.NextDouble() - 0.5));
                    cat = rng.NextDouble() < 0.1 ? 1 + rng.Next(categories) : g.Cat;
                    score = 0.3 + 0.7 * rng.NextDouble();
                }
                else
                {
                    (x, y, w, h) = RandomBox(rng);
                    cat = 1 + rng.Next(categories);
                    score = 0.4 * rng.NextDouble();
                }
                dw.WriteStartObject();
                dw.WriteNumber("image_id", imageIds[i]); dw.WriteNumber("category_id", cat);
                WriteBox(dw, x, y, w, h);
                dw.WriteNumber("score", Math.Round(score, 3));
                dw.WriteEndObject();
                detCount++;
            }
        }
        dw.WriteEndArray();
        gw.WriteEndArray();
        gw.WriteStartArray("categories");
        for (var k = 1; k <= categories; k++)
        {
            gw.WriteStartObject(); gw.WriteNumber("id", k); gw.WriteString("name", $"class{k}"); gw.WriteString("supercategory", "thing"); gw.WriteEndObject();
        }
        gw.WriteEndArray();
        gw.WriteEndObject();
        return (annId, detCount);
    }

    static (double X, double Y, double W, double H) RandomBox(Random rng)
    {
        // Log-uniform side from 4 to 400 px: a COCO-like mix of small, medium and large.
        var w = Math.Exp(Math.Log(4) + (Math.Log(400) - Math.Log(4)) * rng.NextDouble());
        var h = w * Math.Exp(0.5 * (rng.NextDouble() - 0.5));
        var x = rng.NextDouble() * Math.Max(1, 640 - w);
        var y = rng.NextDouble() * Math.Max(1, 480 - h);
        return (x, y, w, h);
    }

    static void WriteBox(Utf8JsonWriter w, double x, double y, double bw, double bh)
    {
        w.WriteStartArray("bbox");
        w.WriteNumberValue(Math.Round(x, 2)); w.WriteNumberValue(Math.Round(y, 2));
        w.WriteNumberValue(Math.Round(bw, 2)); w.WriteNumberValue(Math.Round(bh, 2));
        w.WriteEndArray();
    }
}
