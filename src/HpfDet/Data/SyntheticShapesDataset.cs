using System.Runtime.InteropServices;
using SkiaSharp;

namespace HpfDet.Data;

/// <summary>Options of <see cref="SyntheticShapesDataset"/>.</summary>
/// <param name="Count">Number of images.</param>
/// <param name="ImageSize">Width and height of every image in pixels.</param>
/// <param name="Seed">Everything (layout, colours, clutter, noise) follows from it.</param>
/// <param name="MinObjectSize">Smallest object side in pixels.</param>
/// <param name="MaxObjectSize">Largest object side in pixels (capped by the image size).</param>
/// <param name="MaxObjectsPerImage">Objects per image are drawn from 1..this.</param>
/// <param name="NoiseAmplitude">Per-pixel uniform noise in ±this (0-255 scale); 0 for none.</param>
public sealed record SyntheticShapesOptions(
    int Count = 500,
    int ImageSize = 320,
    int Seed = 0,
    int MinObjectSize = 8,
    int MaxObjectSize = 300,
    int MaxObjectsPerImage = 10,
    int NoiseAmplitude = 6);

/// <summary>
/// The built-in dataset: coloured shapes (circle, square, triangle, ring, cross, diamond) from 8 px to
/// nearly the image size in the same image (so every level from P3 to P7 gets positives once resized
/// for training), with class imbalance (circles 6x more frequent than diamonds), background clutter
/// and pixel noise. Deterministic for a seed: image i depends on (seed, i) alone, so samples can be
/// rendered in memory on demand or written once as PNG files with COCO ground truth.
/// </summary>
public static class SyntheticShapesDataset
{
    public static IReadOnlyList<string> ClassNames { get; } = ["circle", "square", "triangle", "ring", "cross", "diamond"];

    // Relative frequencies: deliberate imbalance.
    static readonly double[] ClassWeights = [0.30, 0.22, 0.17, 0.13, 0.11, 0.07];
    static readonly SKColor[] ClassColours =
    [
        new(230, 40, 40), new(40, 200, 60), new(50, 90, 235), new(240, 210, 30), new(215, 50, 215), new(30, 210, 220),
    ];

    record struct Shape(int Label, float X1, float Y1, float X2, float Y2);

    /// <summary>The dataset served from memory: images are rendered when a sample is loaded.</summary>
    public static DetectionDataset Create(SyntheticShapesOptions? options = null)
    {
        options = Validate(options);
        var o = options;
        var samples = Enumerable.Range(0, o.Count).Select(i => new DetectionSample(
            i + 1, $"synthetic://{FileName(i)}", FileName(i), o.ImageSize, o.ImageSize,
            Layout(i, o).Select(s => new BoxAnnotation(s.X1, s.Y1, s.X2, s.Y2, s.Label)).ToList(),
            () => Render(i, o))).ToList();
        return new DetectionDataset($"synthetic (seed {o.Seed}, {o.Count} images of {o.ImageSize}x{o.ImageSize})", ClassNames, samples, new DataIssues());
    }

    /// <summary>
    /// Writes images/NNNNNN.png and annotations.json (COCO) under <paramref name="folder"/> and returns
    /// the file-backed dataset. Images are rendered and encoded in parallel.
    /// </summary>
    public static DetectionDataset Generate(string folder, SyntheticShapesOptions? options = null)
    {
        options = Validate(options);
        var o = options;
        folder = Path.GetFullPath(folder);
        var imageDir = Path.Combine(folder, "images");
        Directory.CreateDirectory(imageDir);
        var samples = new DetectionSample[o.Count];
        Parallel.For(0, o.Count, i =>
        {
            var path = Path.Combine(imageDir, FileName(i));
            File.WriteAllBytes(path, ImageDecoder.EncodePng(Render(i, o)));
            var boxes = Layout(i, o).Select(s => new BoxAnnotation(s.X1, s.Y1, s.X2, s.Y2, s.Label)).ToList();
            samples[i] = new DetectionSample(i + 1, path, FileName(i), o.ImageSize, o.ImageSize, boxes);
        });
        var dataset = new DetectionDataset(folder, ClassNames, samples, new DataIssues());
        CocoGroundTruthWriter.Write(dataset, Path.Combine(folder, "annotations.json"));
        return dataset;
    }

    static SyntheticShapesOptions Validate(SyntheticShapesOptions? options)
    {
        var o = options ?? new SyntheticShapesOptions();
        if (o.Count < 1) throw new HpfDetException($"Synthetic dataset Count must be at least 1 (got {o.Count}).");
        if (o.ImageSize < 32) throw new HpfDetException($"Synthetic ImageSize must be at least 32 px (got {o.ImageSize}).");
        if (o.MinObjectSize < 2 || o.MinObjectSize > o.MaxObjectSize)
            throw new HpfDetException($"Synthetic object sizes need 2 <= MinObjectSize <= MaxObjectSize (got {o.MinObjectSize}, {o.MaxObjectSize}).");
        if (o.MaxObjectsPerImage < 1) throw new HpfDetException("Synthetic MaxObjectsPerImage must be at least 1.");
        return o;
    }

    static string FileName(int index) => $"{index + 1:D6}.png";

    /// <summary>
    /// Objects of image <paramref name="index"/>: one large object (size from a quarter of the cap up to
    /// the cap) then smaller ones, log-uniform in size, placed inside the image with little overlap.
    /// </summary>
    static List<Shape> Layout(int index, SyntheticShapesOptions o)
    {
        var rng = new Random(DataLoader.SeedFor(o.Seed, 0x5A17, index));
        var cap = Math.Min(o.MaxObjectSize, o.ImageSize - 2);
        var min = Math.Min(o.MinObjectSize, cap);
        var count = 1 + rng.Next(o.MaxObjectsPerImage);
        var shapes = new List<Shape>(count);
        for (var k = 0; k < count; k++)
        {
            var lo = k == 0 ? Math.Max(min, cap / 4) : min;
            var hi = k == 0 ? cap : Math.Max(min, cap / 2);
            for (var attempt = 0; attempt < 20; attempt++)
            {
                var size = (float)Math.Round(Math.Exp(Math.Log(lo) + rng.NextDouble() * (Math.Log(hi) - Math.Log(lo))));
                var aspect = 0.75 + rng.NextDouble() * 0.5; // w/h in [0.75, 1.25] for squares and triangles
                var label = PickLabel(rng);
                float w = size, h = size;
                if (label is 1 or 2) h = (float)Math.Round(Math.Min(cap, size / aspect));
                var x1 = (float)Math.Round(1 + rng.NextDouble() * (o.ImageSize - 2 - w));
                var y1 = (float)Math.Round(1 + rng.NextDouble() * (o.ImageSize - 2 - h));
                var candidate = new Shape(label, x1, y1, x1 + w, y1 + h);
                if (shapes.All(s => Iou(s, candidate) < 0.2 && !Contains(candidate, s)))
                {
                    shapes.Add(candidate);
                    break;
                }
            }
        }
        return shapes;
    }

    static int PickLabel(Random rng)
    {
        var u = rng.NextDouble();
        for (var c = 0; c < ClassWeights.Length; c++)
        {
            u -= ClassWeights[c];
            if (u < 0) return c;
        }
        return ClassWeights.Length - 1;
    }

    static bool Contains(Shape outer, Shape inner) => outer.X1 <= inner.X1 && outer.Y1 <= inner.Y1 && outer.X2 >= inner.X2 && outer.Y2 >= inner.Y2;

    static float Iou(Shape a, Shape b)
    {
        var iw = Math.Max(0, Math.Min(a.X2, b.X2) - Math.Max(a.X1, b.X1));
        var ih = Math.Max(0, Math.Min(a.Y2, b.Y2) - Math.Max(a.Y1, b.Y1));
        var inter = iw * ih;
        return inter / ((a.X2 - a.X1) * (a.Y2 - a.Y1) + (b.X2 - b.X1) * (b.Y2 - b.Y1) - inter);
    }

    /// <summary>Renders image <paramref name="index"/>: background gradient, clutter, the shapes, then noise.</summary>
    public static ImageBuffer Render(int index, SyntheticShapesOptions? options = null)
    {
        var o = Validate(options);
        var size = o.ImageSize;
        var image = new ImageBuffer(size, size);
        var rng = new Random(DataLoader.SeedFor(o.Seed, 0x0D2A, index));
        var handle = GCHandle.Alloc(image.Rgba, GCHandleType.Pinned);
        try
        {
            var info = new SKImageInfo(size, size, SKColorType.Rgba8888, SKAlphaType.Premul);
            using var surface = SKSurface.Create(info, handle.AddrOfPinnedObject(), info.RowBytes)
                ?? throw new InvalidOperationException("Cannot create a drawing surface.");
            var canvas = surface.Canvas;
            DrawBackground(canvas, size, rng);
            using var paint = new SKPaint { IsAntialias = true };
            foreach (var s in Layout(index, o)) DrawShape(canvas, paint, s);
            canvas.Flush();
        }
        finally { handle.Free(); }
        AddNoise(image, o.NoiseAmplitude, rng);
        return image;
    }

    static void DrawBackground(SKCanvas canvas, int size, Random rng)
    {
        // Low-saturation colours only, so clutter never looks like a class colour.
        SKColor Dull(int lo, int hi)
        {
            var v = (byte)rng.Next(lo, hi);
            return new SKColor((byte)Math.Clamp(v + rng.Next(-12, 13), 0, 255), v, (byte)Math.Clamp(v + rng.Next(-12, 13), 0, 255));
        }
        using var gradient = SKShader.CreateLinearGradient(new SKPoint(0, 0), new SKPoint(size, size), [Dull(20, 90), Dull(60, 140)], SKShaderTileMode.Clamp);
        using var bg = new SKPaint { Shader = gradient };
        canvas.DrawRect(0, 0, size, size, bg);
        using var clutter = new SKPaint { IsAntialias = true, Style = SKPaintStyle.Stroke };
        var lines = 8 + rng.Next(12);
        for (var i = 0; i < lines; i++)
        {
            clutter.Color = Dull(40, 200).WithAlpha((byte)rng.Next(80, 200));
            clutter.StrokeWidth = 1 + (float)rng.NextDouble() * 3;
            canvas.DrawLine((float)rng.NextDouble() * size, (float)rng.NextDouble() * size, (float)rng.NextDouble() * size, (float)rng.NextDouble() * size, clutter);
        }
        clutter.Style = SKPaintStyle.Fill;
        var blobs = 10 + rng.Next(20);
        for (var i = 0; i < blobs; i++)
        {
            clutter.Color = Dull(30, 180).WithAlpha((byte)rng.Next(60, 160));
            canvas.DrawOval((float)rng.NextDouble() * size, (float)rng.NextDouble() * size, 1 + (float)rng.NextDouble() * 5, 1 + (float)rng.NextDouble() * 3, clutter);
        }
    }

    /// <summary>Draws the shape so that its geometric extent is exactly its box.</summary>
    static void DrawShape(SKCanvas canvas, SKPaint paint, Shape s)
    {
        paint.Color = ClassColours[s.Label];
        paint.Style = SKPaintStyle.Fill;
        float w = s.X2 - s.X1, h = s.Y2 - s.Y1, cx = (s.X1 + s.X2) / 2, cy = (s.Y1 + s.Y2) / 2;
        switch (s.Label)
        {
            case 0: // filled circle
                canvas.DrawOval(cx, cy, w / 2, h / 2, paint);
                break;
            case 1: // square (rectangle of near-square aspect)
                canvas.DrawRect(s.X1, s.Y1, w, h, paint);
                break;
            case 2: // triangle, apex up
                using (var path = new SKPath())
                {
                    path.MoveTo(cx, s.Y1); path.LineTo(s.X2, s.Y2); path.LineTo(s.X1, s.Y2); path.Close();
                    canvas.DrawPath(path, paint);
                }
                break;
            case 3: // ring: the stroke's outer edge is the box
                var stroke = Math.Max(1.5f, w * 0.18f);
                paint.Style = SKPaintStyle.Stroke;
                paint.StrokeWidth = stroke;
                canvas.DrawOval(cx, cy, (w - stroke) / 2, (h - stroke) / 2, paint);
                break;
            case 4: // cross: two bars
                var bar = Math.Max(2f, w * 0.3f);
                canvas.DrawRect(s.X1, cy - bar / 2, w, bar, paint);
                canvas.DrawRect(cx - bar / 2, s.Y1, bar, h, paint);
                break;
            default: // diamond
                using (var path = new SKPath())
                {
                    path.MoveTo(cx, s.Y1); path.LineTo(s.X2, cy); path.LineTo(cx, s.Y2); path.LineTo(s.X1, cy); path.Close();
                    canvas.DrawPath(path, paint);
                }
                break;
        }
    }

    static void AddNoise(ImageBuffer image, int amplitude, Random rng)
    {
        if (amplitude <= 0) return;
        // xorshift32 seeded from the image's stream: much cheaper than Random per pixel.
        var state = (uint)rng.Next(1, int.MaxValue);
        var px = image.Rgba;
        var span = 2 * amplitude + 1;
        for (var i = 0; i < px.Length; i++)
        {
            if ((i & 3) == 3) { px[i] = 255; continue; }
            state ^= state << 13; state ^= state >> 17; state ^= state << 5;
            px[i] = (byte)Math.Clamp(px[i] + (int)(state % (uint)span) - amplitude, 0, 255);
        }
    }
}
