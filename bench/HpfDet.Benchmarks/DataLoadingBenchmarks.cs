using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using HpfDet.Data;
using HpfDet.Data.Transforms;

namespace HpfDet.Benchmarks;

/// <summary>
/// Decode + augment (resize, flip, pad) + normalise + collate throughput on bccd (640x480 JPEG),
/// 2 workers, batch 2. Short job: the machine is shared.
/// </summary>
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 3)]
public class DataLoadingBenchmarks
{
    public const int Images = 96;

    [Params(800, 512)]
    public int Scale { get; set; }

    DataLoader loader = null!;

    [GlobalSetup]
    public void Setup() => loader = DataLoadingThroughput.CreateLoader(Scale, workers: 2);

    /// <summary>One epoch of <see cref="Images"/> bccd images.</summary>
    [Benchmark]
    public int Epoch()
    {
        var n = 0;
        foreach (var batch in loader.Epoch(0)) using (batch) n += batch.Count;
        return n;
    }
}

/// <summary>The same measurement as a plain console run: dotnet run -c Release --project bench/HpfDet.Benchmarks -- data-loading</summary>
public static class DataLoadingThroughput
{
    public static DataLoader CreateLoader(int scale, int workers, int images = DataLoadingBenchmarks.Images)
    {
        var root = Path.Combine(FindShared(), "data", "bccd");
        var full = VocDatasetReader.Read(root);
        var dataset = new DetectionDataset(full.Name, full.ClassNames, full.Samples.Take(images).ToList(), full.Issues);
        var pipeline = TransformPipeline.ForTraining([new ResizeScale(scale, scale * 1333 / 800)]);
        return new DataLoader(dataset, pipeline, ImageNormalization.CaffeBgr, new DataLoaderOptions(BatchSize: 2, Workers: workers, Prefetch: 4, Seed: 0));
    }

    public static void Run(TextWriter output)
    {
        output.WriteLine($"bccd, {DataLoadingBenchmarks.Images} images per epoch, batch 2, train pipeline (resize, flip, pad 32), CaffeBgr");
        foreach (var scale in new[] { 800, 512 })
        {
            var loader = CreateLoader(scale, workers: 2);
            Epoch(loader, 0); // warm-up: JIT, page cache
            var rates = new List<double>();
            for (var e = 1; e <= 3; e++)
            {
                var sw = Stopwatch.StartNew();
                var n = Epoch(loader, e);
                rates.Add(n / sw.Elapsed.TotalSeconds);
            }
            output.WriteLine($"scale {scale}: {rates.Max():F1} images/s best of 3 epochs (all: {string.Join(", ", rates.Select(r => r.ToString("F1")))})");
        }
    }

    /// <summary>Generation of the default synthetic dataset (500 PNG images of 320x320 + COCO JSON) into a temporary folder.</summary>
    public static void RunSynthetic(TextWriter output)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"hpfdet-synthetic-{Guid.NewGuid():N}");
        var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        var dataset = SyntheticShapesDataset.Generate(dir, new SyntheticShapesOptions());
        sw.Stop();
        process.Refresh();
        var bytes = Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        output.WriteLine($"synthetic: {dataset.Count} images 320x320, {dataset.Samples.Sum(s => s.Boxes.Count)} boxes, " +
            $"{sw.Elapsed.TotalSeconds:F2} s wall, {(process.TotalProcessorTime - cpu).TotalSeconds:F2} CPU-s, {bytes / 1e6:F0} MB on disk, {Environment.ProcessorCount} cores");
        Directory.Delete(dir, recursive: true);
    }

    static int Epoch(DataLoader loader, int epoch)
    {
        var n = 0;
        foreach (var batch in loader.Epoch(epoch)) using (batch) n += batch.Count;
        return n;
    }

    static string FindShared()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, "shared");
            if (File.Exists(Path.Combine(d.FullName, "HpfDet.slnx")) && Directory.Exists(Path.Combine(d.FullName, "..", "shared")))
                return Path.GetFullPath(Path.Combine(d.FullName, "..", "shared"));
            if (Directory.Exists(Path.Combine(candidate, "data"))) return candidate;
        }
        throw new DirectoryNotFoundException("shared/data not found beside the repository.");
    }
}
