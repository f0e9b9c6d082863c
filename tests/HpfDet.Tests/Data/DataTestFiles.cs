using HpfDet.Data;

namespace HpfDet.Tests.Data;

/// <summary>Small files for reader tests, written into a temporary folder.</summary>
internal static class DataTestFiles
{
    /// <summary>A PNG of the given size filled with one colour.</summary>
    public static void WritePng(string path, int width, int height, byte r = 200, byte g = 100, byte b = 50)
    {
        var image = new ImageBuffer(width, height);
        for (var i = 0; i < width * height; i++)
        {
            image.Rgba[i * 4] = r; image.Rgba[i * 4 + 1] = g; image.Rgba[i * 4 + 2] = b; image.Rgba[i * 4 + 3] = 255;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, ImageDecoder.EncodePng(image));
    }

    public static string VocXml(string fileName, int width, int height, params (string Name, string X1, string Y1, string X2, string Y2)[] objects) =>
        $"""
        <annotation>
          <filename>{fileName}</filename>
          <size><width>{width}</width><height>{height}</height><depth>3</depth></size>
        {string.Concat(objects.Select(o => $"  <object><name>{o.Name}</name><difficult>0</difficult><bndbox><xmin>{o.X1}</xmin><ymin>{o.Y1}</ymin><xmax>{o.X2}</xmax><ymax>{o.Y2}</ymax></bndbox></object>\n"))}</annotation>
        """;

    /// <summary>A VOC folder with the given annotations (id → xml) and images (file → size); split "all" lists every id.</summary>
    public static string Voc(string root, Dictionary<string, string> annotations, Dictionary<string, (int W, int H)> images)
    {
        Directory.CreateDirectory(Path.Combine(root, "Annotations"));
        Directory.CreateDirectory(Path.Combine(root, "JPEGImages"));
        Directory.CreateDirectory(Path.Combine(root, "ImageSets", "Main"));
        foreach (var (id, xml) in annotations) File.WriteAllText(Path.Combine(root, "Annotations", id + ".xml"), xml);
        foreach (var (file, size) in images) WritePng(Path.Combine(root, "JPEGImages", file), size.W, size.H);
        File.WriteAllLines(Path.Combine(root, "ImageSets", "Main", "all.txt"), annotations.Keys);
        return root;
    }
}
