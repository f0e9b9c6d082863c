using System.Text;
using System.Text.Json;

namespace HpfDet.Data;

/// <summary>
/// Writes any dataset as COCO ground truth so that evaluation always reads COCO: image ids from the
/// samples, category id = the source's COCO id or contiguous index + 1, bbox [x, y, w, h],
/// area = w * h, iscrowd from the box flag, difficult (VOC) as a 'difficult' field. Annotation ids run 1..N in sample order.
/// </summary>
public static class CocoGroundTruthWriter
{
    public static void Write(DetectionDataset dataset, string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        using var stream = File.Create(path);
        Write(dataset, stream);
    }

    public static string ToJson(DetectionDataset dataset)
    {
        using var stream = new MemoryStream();
        Write(dataset, stream);
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    public static void Write(DetectionDataset dataset, Stream stream)
    {
        using var w = new Utf8JsonWriter(stream);
        w.WriteStartObject();
        w.WriteStartObject("info");
        w.WriteString("description", dataset.Name);
        w.WriteEndObject();
        w.WriteStartArray("licenses");
        w.WriteEndArray();

        w.WriteStartArray("images");
        foreach (var s in dataset.Samples)
        {
            w.WriteStartObject();
            w.WriteNumber("id", s.ImageId);
            w.WriteString("file_name", s.FileName.Replace('\\', '/'));
            w.WriteNumber("width", s.Width);
            w.WriteNumber("height", s.Height);
            w.WriteEndObject();
        }
        w.WriteEndArray();

        w.WriteStartArray("annotations");
        long annotationId = 1;
        foreach (var s in dataset.Samples)
            foreach (var b in s.Boxes)
            {
                w.WriteStartObject();
                w.WriteNumber("id", annotationId++);
                w.WriteNumber("image_id", s.ImageId);
                w.WriteNumber("category_id", dataset.CategoryIdOf(b.Label));
                w.WriteStartArray("bbox");
                w.WriteNumberValue(b.X1);
                w.WriteNumberValue(b.Y1);
                w.WriteNumberValue(b.Width);
                w.WriteNumberValue(b.Height);
                w.WriteEndArray();
                w.WriteNumber("area", b.Width * b.Height);
                w.WriteNumber("iscrowd", b.IsCrowd ? 1 : 0);
                // VOC 'difficult' reaches the VOC metric (neither a hit nor a miss); pycocotools ignores the field.
                if (b.Difficult) w.WriteNumber("difficult", 1);
                w.WriteEndObject();
            }
        w.WriteEndArray();

        w.WriteStartArray("categories");
        for (var i = 0; i < dataset.ClassNames.Count; i++)
        {
            w.WriteStartObject();
            w.WriteNumber("id", dataset.CategoryIdOf(i));
            w.WriteString("name", dataset.ClassNames[i]);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
