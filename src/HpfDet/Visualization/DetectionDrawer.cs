using System.Runtime.InteropServices;
using HpfDet.Data;
using HpfDet.Evaluation;
using HpfDet.Models;
using SkiaSharp;
using TorchSharp;

namespace HpfDet.Visualization;

/// <summary>
/// Draws boxes on an image: one colour per class, a "name 0.87" label on a filled background, line
/// width and text size scaled to the image size. Ground truth, when given, is drawn dashed.
/// </summary>
public static class DetectionDrawer
{
    // Distinct colours (Trubetskoy's list, most distinct first); class 0 is red.
    static readonly (byte R, byte G, byte B)[] ClassColors =
    [
        (230, 25, 75), (60, 180, 75), (255, 225, 25), (67, 99, 216), (245, 130, 49),
        (145, 30, 180), (66, 212, 244), (240, 50, 230), (191, 239, 69), (250, 190, 212),
        (70, 153, 144), (220, 190, 255), (154, 99, 36), (255, 250, 200), (128, 0, 0),
        (170, 255, 195), (128, 128, 0), (255, 216, 177), (0, 0, 117), (169, 169, 169),
    ];

    /// <summary>The colour of class <paramref name="label"/>; the 20 colours repeat beyond 20 classes.</summary>
    public static (byte R, byte G, byte B) ClassColor(int label) =>
        ClassColors[((label % ClassColors.Length) + ClassColors.Length) % ClassColors.Length];

    /// <summary>Decodes <paramref name="imagePath"/>, draws <paramref name="boxes"/> and writes <paramref name="outputPng"/>.</summary>
    public static void Draw(string imagePath, IReadOnlyList<DrawnBox> boxes, IReadOnlyList<string> classNames, string outputPng) =>
        Draw(ImageDecoder.Decode(imagePath), boxes, classNames, outputPng);

    /// <summary>Draws <paramref name="boxes"/> on a copy of <paramref name="image"/> and writes <paramref name="outputPng"/>.</summary>
    public static void Draw(ImageBuffer image, IReadOnlyList<DrawnBox> boxes, IReadOnlyList<string> classNames, string outputPng) =>
        WritePng(Render(image, boxes, classNames), outputPng);

    /// <summary>Draws ground truth dashed (name only) and detections solid (name and score), then writes <paramref name="outputPng"/>.</summary>
    public static void DrawGroundTruthAndDetections(string imagePath, IReadOnlyList<DrawnBox> groundTruth, IReadOnlyList<DrawnBox> detections,
        IReadOnlyList<string> classNames, string outputPng) =>
        WritePng(Render(ImageDecoder.Decode(imagePath), detections, classNames, groundTruth), outputPng);

    /// <summary>
    /// Returns a copy of <paramref name="image"/> with the boxes drawn; <paramref name="groundTruth"/>
    /// boxes are drawn first, dashed, labelled below their bottom edge.
    /// </summary>
    public static ImageBuffer Render(ImageBuffer image, IReadOnlyList<DrawnBox> boxes, IReadOnlyList<string> classNames,
        IReadOnlyList<DrawnBox>? groundTruth = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(boxes);
        ArgumentNullException.ThrowIfNull(classNames);
        var info = new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        using var bitmap = new SKBitmap(info);
        Marshal.Copy(image.Rgba, 0, bitmap.GetPixels(), image.Rgba.Length);

        // About 2 px on a 640 px image; text about 13 px.
        var longSide = Math.Max(image.Width, image.Height);
        var lineWidth = Math.Max(2f, MathF.Round(longSide / 320f));
        var fontSize = Math.Max(10f, longSide / 50f);
        using (var canvas = new SKCanvas(bitmap))
        using (var font = new SKFont(DrawingFonts.Sans, fontSize))
        using (var stroke = new SKPaint { Style = SKPaintStyle.Stroke, StrokeWidth = lineWidth, IsAntialias = true })
        using (var fill = new SKPaint { Style = SKPaintStyle.Fill, IsAntialias = true })
        using (var dash = SKPathEffect.CreateDash([4 * lineWidth, 2 * lineWidth], 0))
        {
            if (groundTruth != null)
            {
                stroke.PathEffect = dash;
                foreach (var box in groundTruth)
                    DrawOne(canvas, box, ClassName(box.Label, classNames), stroke, fill, font, image.Width, image.Height, labelBelow: true);
                stroke.PathEffect = null;
            }
            foreach (var box in boxes)
            {
                var text = float.IsNaN(box.Score) ? ClassName(box.Label, classNames) : $"{ClassName(box.Label, classNames)} {box.Score:0.00}";
                DrawOne(canvas, box, text, stroke, fill, font, image.Width, image.Height, labelBelow: false);
            }
        }
        var result = new ImageBuffer(image.Width, image.Height);
        Marshal.Copy(bitmap.GetPixels(), result.Rgba, 0, result.Rgba.Length);
        return result;
    }

    /// <summary>
    /// The detections scoring at least <paramref name="minScore"/>, copied to the host in one transfer
    /// per tensor (boxes [K, 4], scores [K], labels [K]).
    /// </summary>
    public static IReadOnlyList<DrawnBox> FromDetections(Detections detections, double minScore)
    {
        ArgumentNullException.ThrowIfNull(detections);
        var count = detections.Scores.shape[0];
        if (detections.Boxes.shape is not [var kb, 4] || kb != count || detections.Labels.shape is not [var kl] || kl != count)
            throw new ArgumentException($"Detections of shapes boxes [{string.Join(", ", detections.Boxes.shape)}], scores [{string.Join(", ", detections.Scores.shape)}], labels [{string.Join(", ", detections.Labels.shape)}]; expected [K, 4], [K], [K].", nameof(detections));
        // TorchSharp's ToArray throws on an empty tensor.
        if (count == 0) return [];
        // The scope disposes only the copies made here, never the caller's tensors.
        using var scope = torch.NewDisposeScope();
        var boxes = detections.Boxes.to_type(torch.float32).cpu().contiguous().data<float>().ToArray(); // [K * 4]
        var scores = detections.Scores.to_type(torch.float32).cpu().contiguous().data<float>().ToArray(); // [K]
        var labels = detections.Labels.to_type(torch.int64).cpu().contiguous().data<long>().ToArray(); // [K]
        var result = new List<DrawnBox>(scores.Length);
        for (var k = 0; k < scores.Length; k++)
            if (scores[k] >= minScore)
                result.Add(new DrawnBox(boxes[4 * k], boxes[4 * k + 1], boxes[4 * k + 2], boxes[4 * k + 3], (int)labels[k], scores[k]));
        return result;
    }

    /// <summary>
    /// COCO-format detections (xywh, category ids) as boxes to draw, grouped by image id; only scores
    /// ≥ <paramref name="minScore"/>. <paramref name="labelOf"/> maps a category id to a class index.
    /// </summary>
    public static Dictionary<long, List<DrawnBox>> FromCocoDetections(CocoDetections detections, Func<int, int> labelOf, double minScore)
    {
        ArgumentNullException.ThrowIfNull(detections);
        var byImage = new Dictionary<long, List<DrawnBox>>();
        for (var i = 0; i < detections.Count; i++)
        {
            var d = detections[i];
            if (d.Score < minScore) continue;
            if (!byImage.TryGetValue(d.ImageId, out var list)) byImage[d.ImageId] = list = [];
            list.Add(new DrawnBox((float)d.X, (float)d.Y, (float)(d.X + d.W), (float)(d.Y + d.H), labelOf(d.CategoryId), (float)d.Score));
        }
        return byImage;
    }

    static string ClassName(int label, IReadOnlyList<string> classNames) =>
        label >= 0 && label < classNames.Count ? classNames[label] : $"class {label}";

    static void DrawOne(SKCanvas canvas, DrawnBox box, string text, SKPaint stroke, SKPaint fill, SKFont font, int width, int height, bool labelBelow)
    {
        var (r, g, b) = ClassColor(box.Label);
        var color = new SKColor(r, g, b);
        stroke.Color = color;
        canvas.DrawRect(SKRect.Create(box.X1, box.Y1, box.X2 - box.X1, box.Y2 - box.Y1), stroke);

        var textWidth = font.MeasureText(text);
        var metrics = font.Metrics;
        var pad = MathF.Ceiling(font.Size * 0.2f);
        var labelHeight = metrics.Descent - metrics.Ascent + 2 * pad;
        var labelWidth = textWidth + 2 * pad;
        // Above the box when there is room, else just inside its top edge; kept inside the image.
        var top = labelBelow
            ? Math.Min(box.Y2, height - labelHeight)
            : box.Y1 - labelHeight >= 0 ? box.Y1 - labelHeight : box.Y1;
        var left = Math.Clamp(box.X1 - stroke.StrokeWidth / 2, 0, Math.Max(0, width - labelWidth));
        fill.Color = color;
        canvas.DrawRect(SKRect.Create(left, top, labelWidth, labelHeight), fill);
        // Dark text on light colours, white on dark ones (ITU-R BT.601 luma).
        fill.Color = 0.299 * r + 0.587 * g + 0.114 * b > 150 ? SKColors.Black : SKColors.White;
        canvas.DrawText(text, left + pad, top + pad - metrics.Ascent, SKTextAlign.Left, font, fill);
    }

    static void WritePng(ImageBuffer image, string outputPng)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(outputPng));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        File.WriteAllBytes(outputPng, ImageDecoder.EncodePng(image));
    }
}
