using HpfDet.Data;
using HpfDet.Data.Transforms;
using HpfDet.Tests.Infrastructure;
using SkiaSharp;

namespace HpfDet.Tests.Data;

/// <summary>Pixel limit, 64-bit sizes and decoding reduced to the training scale.</summary>
public class ImageLimitTests
{
    [Fact]
    public void Png_header_declaring_100000_squared_pixels_is_refused_with_a_clear_error()
    {
        var bytes = HandMadeImages.PngDeclaring(100_000, 100_000);
        Assert.InRange(bytes.Length, 60, 600); // a few hundred bytes declaring 10^10 pixels
        using var dir = TestPaths.NewTempDir();
        var path = Path.Combine(dir, "bomb.png");
        File.WriteAllBytes(path, bytes);
        Assert.Equal((100_000, 100_000), ImageDecoder.ReadSize(path)); // the header itself is valid

        var e = Assert.Throws<HpfDetException>(() => ImageDecoder.Decode(path));
        Assert.Contains("bomb.png", e.Message);
        Assert.Contains("100000x100000", e.Message);
        Assert.Contains("10,000,000,000 pixels", e.Message); // 100000² by hand
        Assert.Contains("178,956,970", e.Message);           // Pillow's limit, 2 × 89,478,485
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Sizes_beyond_a_byte_array_are_refused_even_with_a_raised_limit()
    {
        // 40000² = 1.6e9 pixels = 6.4e9 bytes: a 32-bit size wraps (6.4e9 mod 2^32 = 2,105,032,704).
        var bytes = HandMadeImages.PngDeclaring(40_000, 40_000);
        var e = Assert.Throws<HpfDetException>(() => ImageDecoder.Decode(bytes, "big.png", maxPixels: 2_000_000_000));
        Assert.Contains("big.png", e.Message);
        Assert.Contains("more than one decoded image can hold", e.Message);
    }

    [Fact]
    public void Jpeg_header_claiming_a_huge_size_is_refused_by_the_limit()
    {
        var bytes = HandMadeImages.JpegDeclaring(60_000, 50_000);
        using var dir = TestPaths.NewTempDir();
        var path = Path.Combine(dir, "huge.jpg");
        File.WriteAllBytes(path, bytes);
        Assert.Equal((60_000, 50_000), ImageDecoder.ReadSize(path));
        var e = Assert.Throws<HpfDetException>(() => ImageDecoder.Decode(path));
        Assert.Contains("3,000,000,000 pixels", e.Message); // 60000 × 50000
    }

    [Fact]
    public void Readers_skip_images_above_the_configured_limit_with_a_counted_issue()
    {
        using var dir = TestPaths.NewTempDir();
        var root = DataTestFiles.Voc(dir,
            new() { ["a"] = DataTestFiles.VocXml("a.png", 100, 80, ("cat", "1", "1", "9", "9")), ["b"] = DataTestFiles.VocXml("b.png", 40, 30, ("cat", "1", "1", "9", "9")) },
            new() { ["a.png"] = (100, 80), ["b.png"] = (40, 30) });
        File.WriteAllBytes(Path.Combine(root, "JPEGImages", "c.png"), HandMadeImages.PngDeclaring(100_000, 100_000));
        File.WriteAllText(Path.Combine(root, "Annotations", "c.xml"), DataTestFiles.VocXml("c.png", 100_000, 100_000, ("cat", "1", "1", "9", "9")));
        File.AppendAllLines(Path.Combine(root, "ImageSets", "Main", "all.txt"), ["c"]);

        var d = VocDatasetReader.Read(root, "all");
        Assert.Equal(2, d.Count);
        var issue = Assert.Single(d.Issues.Items);
        Assert.Equal(DataIssueKind.ImageTooLarge, issue.Kind);
        Assert.True(issue.SkipsSample);

        // 100 × 80 = 8000 pixels: a limit of 7999 refuses a.png too, 8000 admits it.
        var tight = VocDatasetReader.Read(root, "all", new DataReadOptions(MaxImagePixels: 7999));
        Assert.Equal(["b.png"], tight.Samples.Select(s => s.FileName));
        var exact = VocDatasetReader.Read(root, "all", new DataReadOptions(MaxImagePixels: 8000));
        Assert.Equal(["a.png", "b.png"], exact.Samples.Select(s => s.FileName));
        Assert.All(exact.Samples, s => Assert.Equal(8000, s.MaxImagePixels));
        // The limit travels with the sample to decode time.
        Assert.Throws<HpfDetException>(() => (exact.Samples[0] with { MaxImagePixels = 7999 }).LoadImage());
    }

    [Fact]
    public void Jpeg_is_decoded_reduced_to_the_training_scale_and_maps_back_exactly()
    {
        using var dir = TestPaths.NewTempDir();
        var path = Path.Combine(dir, "big.jpg");
        File.WriteAllBytes(path, ImageDecoder.Encode(HandMadeImages.Gradient(1600, 1200), SKEncodedImageFormat.Jpeg, 92));

        // Scale (300, 1000) on 1600x1200 wants 400x300 (factor 0.25 by hand); libjpeg scales by k/8, and 2/8 gives exactly 400x300.
        var scale = new ResizeScale(300, 1000);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var reduced = ImageDecoder.Decode(path, ImageDecoder.DefaultMaxPixels, scale.OutputSize, out var full);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal((1600, 1200), full);
        Assert.Equal((400, 300), (reduced.Width, reduced.Height));
        // A full decode would allocate 1600·1200·4 = 7,680,000 bytes of pixels; reduced: 480,000 plus the file.
        Assert.True(allocated < 480_000 + new FileInfo(path).Length + 200_000, $"allocated {allocated:N0} bytes");

        // Same pixels as decoding fully then resizing, up to resampling differences on a smooth gradient.
        var resized = ImageDecoder.Resize(ImageDecoder.Decode(path), 400, 300);
        double diff = 0;
        for (var i = 0; i < resized.Rgba.Length; i++) diff += Math.Abs(resized.Rgba[i] - reduced.Rgba[i]);
        Assert.True(diff / resized.Rgba.Length < 2.0, $"mean abs difference {diff / resized.Rgba.Length:0.00}");

        // Through the loader: the meta still describes the 1600x1200 original and maps a box back exactly.
        var sample = new DetectionSample(1, path, "big.jpg", 1600, 1200, [new BoxAnnotation(400, 300, 800, 900, 0)]);
        var dataset = new DetectionDataset("big", ["a"], [sample], new DataIssues());
        var loader = new DataLoader(dataset, TransformPipeline.ForEvaluation(scale), ImageNormalization.CaffeBgr, new DataLoaderOptions(BatchSize: 1, Workers: 0));
        using var batch = loader.Epoch(0).Single();
        var meta = batch.Meta[0];
        Assert.Equal((1600, 1200, 400, 300), (meta.OriginalWidth, meta.OriginalHeight, meta.Width, meta.Height));
        Assert.Equal(0.25, meta.ScaleX, 12);
        var box = batch.Boxes[0].data<float>().ToArray();
        Assert.Equal([100f, 75f, 200f, 225f], box); // (400, 300, 800, 900) × 0.25
        meta.MapToOriginal(box);
        Assert.Equal([400f, 300f, 800f, 900f], box);
    }

    [Fact]
    public void Reduced_decode_gives_the_same_output_size_as_a_full_decode()
    {
        // 1601x1203 at 1/4 is 401x301 (rounded up); the resize must still target the size computed from 1601x1203.
        using var dir = TestPaths.NewTempDir();
        var path = Path.Combine(dir, "odd.jpg");
        File.WriteAllBytes(path, ImageDecoder.Encode(HandMadeImages.Gradient(1601, 1203), SKEncodedImageFormat.Jpeg, 90));
        var scale = new ResizeScale(300, 1000);
        var expected = scale.OutputSize(1601, 1203); // factor 300/1203: (399.25 → 399, 300)
        Assert.Equal((399, 300), expected);
        var sample = new DetectionSample(1, path, "odd.jpg", 1601, 1203, []);
        var loader = new DataLoader(new DetectionDataset("odd", ["a"], [sample], new DataIssues()), TransformPipeline.ForEvaluation(scale),
            ImageNormalization.CaffeBgr, new DataLoaderOptions(BatchSize: 1, Workers: 0));
        var prepared = loader.Prepare(0, 0);
        Assert.Equal(expected, (prepared.Image.Width, prepared.Image.Height));
        Assert.Equal((1601, 1203), (prepared.OriginalWidth, prepared.OriginalHeight));
        Assert.Equal(399 / 1601.0, prepared.XScale, 12);
    }

    [Fact]
    public void Loader_leaves_a_bomb_out_of_its_batch_with_an_issue()
    {
        using var dir = TestPaths.NewTempDir();
        var bomb = Path.Combine(dir, "bomb.png");
        File.WriteAllBytes(bomb, HandMadeImages.PngDeclaring(100_000, 100_000));
        var ok = Path.Combine(dir, "ok.png");
        DataTestFiles.WritePng(ok, 64, 48);
        var dataset = new DetectionDataset("d", ["a"], [new DetectionSample(1, bomb, "bomb.png", 64, 48, []), new DetectionSample(2, ok, "ok.png", 64, 48, [])], new DataIssues());
        var loader = new DataLoader(dataset, TransformPipeline.ForEvaluation(new ResizeScale(32, 64)), ImageNormalization.CaffeBgr,
            new DataLoaderOptions(BatchSize: 2, Workers: 1, Shuffle: false));
        foreach (var b in loader.Epoch(0)) using (b) Assert.Equal(1, b.Count);
        Assert.Contains("above the limit", Assert.Single(loader.Issues.Items).Reason);
    }
}
