using System.Diagnostics;
using HpfDet.Data;
using HpfDet.Tests.Infrastructure;

namespace HpfDet.Tests.Data;

public class SyntheticShapesTests
{
    [Fact]
    public void Same_seed_same_data_other_seed_other_data()
    {
        var a = SyntheticShapesDataset.Create(new SyntheticShapesOptions(Count: 5, Seed: 1));
        var b = SyntheticShapesDataset.Create(new SyntheticShapesOptions(Count: 5, Seed: 1));
        var c = SyntheticShapesDataset.Create(new SyntheticShapesOptions(Count: 5, Seed: 2));
        Assert.Equal(a.Samples.SelectMany(s => s.Boxes), b.Samples.SelectMany(s => s.Boxes));
        Assert.NotEqual(a.Samples.SelectMany(s => s.Boxes), c.Samples.SelectMany(s => s.Boxes));
        Assert.Equal(a[3].LoadImage().Rgba, b[3].LoadImage().Rgba);
        Assert.NotEqual(a[3].LoadImage().Rgba, c[3].LoadImage().Rgba);
    }

    [Fact]
    public void Sizes_span_8_to_300_px_inside_the_image_with_class_imbalance()
    {
        var d = SyntheticShapesDataset.Create(new SyntheticShapesOptions(Count: 300));
        var boxes = d.Samples.SelectMany(s => s.Boxes).ToList();
        Assert.All(boxes, b => Assert.True(b.X1 >= 0 && b.Y1 >= 0 && b.X2 <= 320 && b.Y2 <= 320 && b.Width >= 8 && b.Height >= 6));
        var sides = boxes.Select(b => Math.Max(b.Width, b.Height)).ToList();
        Assert.True(sides.Min() <= 10, $"smallest {sides.Min()}");
        Assert.True(sides.Max() >= 280 && sides.Max() <= 300, $"largest {sides.Max()}");
        // Every FCOS-style size band (<64, 64-128, 128-256, >256 px on the 320 image) is populated.
        Assert.All(new[] { (0, 64), (64, 128), (128, 256), (256, 400) }, r => Assert.Contains(sides, s => s >= r.Item1 && s < r.Item2));
        // Several sizes in one image.
        Assert.Contains(d.Samples, s => s.Boxes.Count >= 3 && s.Boxes.Max(b => b.Width) > 100 && s.Boxes.Min(b => b.Width) < 32);
        var perClass = Enumerable.Range(0, 6).Select(c => boxes.Count(b => b.Label == c)).ToArray();
        Assert.All(perClass, n => Assert.True(n > 0));
        Assert.True(perClass[0] > 2.5 * perClass[5], $"counts {string.Join(",", perClass)}");
    }

    [Fact]
    public void Unoccluded_filled_shapes_show_their_class_colour_at_the_centre()
    {
        var o = new SyntheticShapesOptions(Count: 30, NoiseAmplitude: 0);
        var d = SyntheticShapesDataset.Create(o);
        var expected = new Dictionary<int, (int R, int G, int B)> { [0] = (230, 40, 40), [1] = (40, 200, 60), [2] = (50, 90, 235) };
        var checkedCount = 0;
        foreach (var s in d.Samples)
        {
            var image = s.LoadImage();
            foreach (var b in s.Boxes.Where(b => expected.ContainsKey(b.Label) && b.Width >= 16))
            {
                var alone = s.Boxes.All(o2 => o2 == b || o2.X2 <= b.X1 || o2.X1 >= b.X2 || o2.Y2 <= b.Y1 || o2.Y1 >= b.Y2);
                if (!alone) continue;
                int x = (int)((b.X1 + b.X2) / 2), y = (int)(b.Label == 2 ? b.Y1 + 0.75f * b.Height : (b.Y1 + b.Y2) / 2);
                var (r, g, bl) = expected[b.Label];
                Assert.Equal(r, image[x, y, 0]); Assert.Equal(g, image[x, y, 1]); Assert.Equal(bl, image[x, y, 2]);
                checkedCount++;
            }
        }
        Assert.True(checkedCount > 10);
    }

    [Fact]
    public void Generate_writes_png_and_coco_json_that_read_back_identically()
    {
        using var dir = TestPaths.NewTempDir();
        var o = new SyntheticShapesOptions(Count: 20, ImageSize: 128, Seed: 5);
        var written = SyntheticShapesDataset.Generate(dir, o);
        var read = CocoDatasetReader.Read(Path.Combine(dir, "annotations.json"), Path.Combine(dir, "images"), new DataReadOptions(Strict: true));
        Assert.Equal(SyntheticShapesDataset.ClassNames, read.ClassNames);
        Assert.Equal(20, read.Count);
        var memory = SyntheticShapesDataset.Create(o);
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(memory[i].Boxes, read[i].Boxes);
            Assert.Equal(written[i].Boxes, read[i].Boxes);
            Assert.All(read[i].Boxes, b => Assert.True(b.X2 <= 128 && b.Y2 <= 128));
        }
        Assert.Equal(memory[7].LoadImage().Rgba, read[7].LoadImage().Rgba); // PNG is lossless
    }
}

[Collection(nameof(TimingCollection))]
public class SyntheticShapesTimingTests
{
    [Fact]
    public void Generates_500_images_of_320_in_under_10_cpu_seconds()
    {
        // CPU time, not wall time: the build machine is shared, and wall time there measures the
        // neighbours. Under 10 CPU-seconds means under 10 s of wall time even on one free core.
        using var dir = TestPaths.NewTempDir();
        var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        var d = SyntheticShapesDataset.Generate(dir, new SyntheticShapesOptions(Count: 500));
        sw.Stop();
        process.Refresh();
        var cpuSeconds = (process.TotalProcessorTime - cpu).TotalSeconds;
        Assert.Equal(500, Directory.GetFiles(Path.Combine(dir, "images"), "*.png").Length);
        Assert.Equal(500, d.Count);
        Assert.True(cpuSeconds < 10, $"took {cpuSeconds:F1} CPU-s ({sw.Elapsed.TotalSeconds:F1} s wall)");
    }
}

/// <summary>Timing tests run alone so that other tests' CPU time is not counted.</summary>
[CollectionDefinition(nameof(TimingCollection), DisableParallelization = true)]
public sealed class TimingCollection;
