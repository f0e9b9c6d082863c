using System.Diagnostics;
using HpfDet.Data;
using HpfDet.Data.Transforms;
using HpfDet.Tests.Infrastructure;
using HpfDet.Training;

namespace HpfDet.Tests.Data;

/// <summary>What used to pass silently is now a counted warning or an error.</summary>
public class SilentAcceptanceTests : IDisposable
{
    readonly TempDir temp = TestPaths.NewTempDir();

    public void Dispose() => temp.Dispose();

    string Yolo(bool withLabels = true)
    {
        var root = temp.NewSubdir();
        File.WriteAllText(Path.Combine(root, "data.yaml"), "train: train/images\nval: valid/images\nnames: [a, b]\n");
        for (var i = 0; i < 3; i++) DataTestFiles.WritePng(Path.Combine(root, "train", "images", $"{i}.png"), 40, 40);
        if (withLabels)
        {
            Directory.CreateDirectory(Path.Combine(root, "train", "labels"));
            File.WriteAllText(Path.Combine(root, "train", "labels", "0.txt"), "1 0.5 0.5 0.5 0.5\n");
        }
        return root;
    }

    [Fact]
    public void Missing_yolo_label_folder_is_a_counted_warning()
    {
        var d = YoloDatasetReader.Read(Yolo(withLabels: false));
        Assert.Equal(3, d.Count);
        var issue = Assert.Single(d.Issues.Items);
        Assert.Equal(DataIssueKind.MissingLabels, issue.Kind);
        Assert.Contains("3 image(s) read as background", issue.Reason);
        Assert.False(issue.SkipsSample);
        Assert.Contains("warnings: 1 (1 MissingLabels)", DatasetStatistics.Compute(d).ToText());
        // A label folder with some files missing is normal (background images): no warning.
        Assert.Equal(0, YoloDatasetReader.Read(Yolo()).Issues.Count);
    }

    [Fact]
    public void Label_path_that_is_a_folder_skips_the_sample_with_an_issue()
    {
        var root = Yolo();
        Directory.CreateDirectory(Path.Combine(root, "train", "labels", "1.txt"));
        var d = YoloDatasetReader.Read(root);
        Assert.Equal(2, d.Count);
        var issue = Assert.Single(d.Issues.Items);
        Assert.Equal(DataIssueKind.MalformedAnnotation, issue.Kind);
        Assert.Contains("folder", issue.Reason);
    }

    [Fact]
    public void Duplicate_yolo_names_are_refused()
    {
        var root = Yolo();
        File.WriteAllText(Path.Combine(root, "data.yaml"), "train: train/images\nnames: [car, bus, car]\n");
        var e = Assert.Throws<HpfDetException>(() => YoloDatasetReader.Read(root));
        Assert.Contains("'car' appears twice", e.Message);
        Assert.Contains("indices 0 and 2", e.Message);
    }

    string Voc()
    {
        var root = DataTestFiles.Voc(temp.NewSubdir(), new()
        {
            ["a"] = DataTestFiles.VocXml("a.png", 100, 80, ("RBC", "1", "1", "9", "9"), ("RBc", "10", "10", "20", "20")),
            ["b"] = DataTestFiles.VocXml("b.png", 100, 80, ("WBC", "1", "1", "9", "9")),
        }, new() { ["a.png"] = (100, 80), ["b.png"] = (100, 80) });
        return root;
    }

    [Fact]
    public void Id_listed_twice_in_a_voc_split_counts_once_with_a_warning()
    {
        var root = Voc();
        File.WriteAllLines(Path.Combine(root, "ImageSets", "Main", "train.txt"), ["a", "b", "a"]);
        var d = VocDatasetReader.Read(root, "train");
        Assert.Equal(2, d.Count);
        var issue = Assert.Single(d.Issues.Items, i => i.Kind == DataIssueKind.DuplicateImageId);
        Assert.Equal(3, issue.Line);
        Assert.Contains("first on line 1", issue.Reason);
    }

    [Fact]
    public void Voc_class_list_comes_from_labels_txt_options_or_the_config_and_typos_are_reported()
    {
        var root = Voc();
        // Without a list, the typo becomes a class of its own (the names found).
        Assert.Equal(["RBC", "RBc", "WBC"], VocDatasetReader.Read(root, "all").ClassNames);

        File.WriteAllLines(Path.Combine(root, "labels.txt"), ["RBC", "WBC", "Platelets"]);
        var d = VocDatasetReader.Read(root, "all");
        Assert.Equal(["RBC", "WBC", "Platelets"], d.ClassNames);
        var typo = Assert.Single(d.Issues.Items);
        Assert.Equal(DataIssueKind.UnknownClass, typo.Kind);
        Assert.EndsWith("a.xml", typo.File);
        Assert.Equal(5, typo.Line); // VocXml: annotation, filename, size, then one <object> a line: the second is line 5
        Assert.Contains("'RBc'", typo.Reason);

        // CVAT's Pascal VOC export: labelmap.txt with colours, and a background entry that is no class.
        File.Delete(Path.Combine(root, "labels.txt"));
        File.WriteAllLines(Path.Combine(root, "labelmap.txt"), ["# label:color_rgb:parts:actions", "background:0,0,0::", "RBC:250,50,83::", "WBC:51,221,255::"]);
        Assert.Equal(["RBC", "WBC"], VocDatasetReader.Read(root, "all").ClassNames);
        File.WriteAllLines(Path.Combine(root, "classes.txt"), ["WBC", "RBC"]); // classes.txt comes first
        Assert.Equal(["WBC", "RBC"], VocDatasetReader.Read(root, "all").ClassNames);
        Assert.Equal(["RBc"], VocDatasetReader.Read(root, "all", new DataReadOptions(ClassNames: ["RBc"])).ClassNames);

        // data.classes in the run configuration is passed through.
        File.Copy(Path.Combine(root, "ImageSets", "Main", "all.txt"), Path.Combine(root, "ImageSets", "Main", "train.txt"));
        File.Copy(Path.Combine(root, "ImageSets", "Main", "all.txt"), Path.Combine(root, "ImageSets", "Main", "val.txt"));
        var config = new RunConfig { Data = { Format = "voc", Path = root, Classes = ["RBC", "WBC"] } };
        var (train, val) = config.LoadDatasets();
        Assert.Equal(["RBC", "WBC"], train.ClassNames);
        Assert.Equal(["RBC", "WBC"], val.ClassNames);
        Assert.Equal(1, train.Issues.Items.Count(i => i.Kind == DataIssueKind.UnknownClass));

        // The key is set like any other, from --set or a YAML list.
        var set = new RunConfig();
        set.Set("data.classes", "[RBC, WBC]");
        Assert.Equal(["RBC", "WBC"], set.Data.Classes);
        using var dir = TestPaths.NewTempDir();
        var yaml = Path.Combine(dir, "config.yaml");
        File.WriteAllText(yaml, "data:\n  classes: [RBC, WBC, Platelets]\n");
        Assert.Equal(["RBC", "WBC", "Platelets"], RunConfig.Load(yaml).Data.Classes);

        File.WriteAllLines(Path.Combine(root, "classes.txt"), ["WBC", "RBC", "WBC"]);
        Assert.Contains("classes.txt:3", Assert.Throws<HpfDetException>(() => VocDatasetReader.Read(root, "all")).Message);
    }

    [Fact]
    public void Voc_size_disagreeing_with_the_image_is_shown_as_a_counted_warning()
    {
        using var dir = TestPaths.NewTempDir();
        var root = DataTestFiles.Voc(dir, new() { ["a"] = DataTestFiles.VocXml("a.png", 640, 480, ("cat", "1", "1", "9", "9")) },
            new() { ["a.png"] = (100, 80) });
        var d = VocDatasetReader.Read(root, "all");
        var stats = DatasetStatistics.Compute(d);
        Assert.Equal(DataIssueKind.SizeMismatch, Assert.Single(stats.Warnings).Kind);
        var text = stats.ToText();
        Assert.Contains("warnings: 1 (1 SizeMismatch)", text);
        Assert.Contains("640x480", text);
        Assert.Contains("\"warnings\"", stats.ToJson());
        Assert.Equal(1, d.Issues.Warnings);
    }

    [Fact]
    public void Deeply_nested_voc_xml_is_refused_in_linear_time()
    {
        using var dir = TestPaths.NewTempDir();
        var root = DataTestFiles.Voc(dir, new() { ["a"] = DataTestFiles.VocXml("a.png", 100, 80, ("cat", "1", "1", "9", "9")) },
            new() { ["a.png"] = (100, 80) });
        const int depth = 250_000;
        File.WriteAllText(Path.Combine(root, "Annotations", "deep.xml"),
            "<annotation>" + string.Concat(Enumerable.Repeat("<a>", depth)) + string.Concat(Enumerable.Repeat("</a>", depth)) + "</annotation>");
        File.AppendAllLines(Path.Combine(root, "ImageSets", "Main", "all.txt"), ["deep"]);
        var watch = Stopwatch.StartNew();
        var d = VocDatasetReader.Read(root, "all");
        watch.Stop();
        Assert.Equal(1, d.Count);
        var issue = Assert.Single(d.Issues.Items);
        Assert.Equal(DataIssueKind.MalformedAnnotation, issue.Kind);
        Assert.Contains($"deeper than {VocDatasetReader.MaxXmlDepth}", issue.Reason);
        // Generous bound for a shared machine: the quadratic read took over 60 s at this depth.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"{watch.Elapsed.TotalSeconds:0.0} s");
    }

    [Fact]
    public void Data_issues_can_be_read_while_loader_threads_write()
    {
        var issues = new DataIssues();
        var writers = Enumerable.Range(0, 2).Select(w => new Thread(() =>
        {
            for (var i = 0; i < 50_000; i++) issues.Add(DataIssueKind.CorruptImage, $"f{w}-{i}", "x");
        })).ToList();
        writers.ForEach(t => t.Start());
        Exception? failure = null;
        var reads = 0;
        while (writers.Any(t => t.IsAlive) && failure == null)
        {
            try
            {
                _ = issues.CountsByKind;
                _ = issues.SkippedSamples;
                _ = issues.Summary();
                reads++;
            }
            catch (Exception e) { failure = e; }
        }
        writers.ForEach(t => t.Join());
        Assert.Null(failure);
        Assert.Equal(100_000, issues.Count);
        Assert.Equal(100_000, issues.CountsByKind[DataIssueKind.CorruptImage]);
    }

    [Fact]
    public void Cancelled_loader_disposes_the_batch_it_had_prepared()
    {
        using var dir = TestPaths.NewTempDir();
        var samples = Enumerable.Range(0, 6).Select(i =>
        {
            var path = Path.Combine(dir, $"{i}.png");
            DataTestFiles.WritePng(path, 32, 32);
            return new DetectionSample(i + 1, path, $"{i}.png", 32, 32, []);
        }).ToList();
        var loader = new DataLoader(new DetectionDataset("d", ["a"], samples, new DataIssues()), TransformPipeline.ForEvaluation(new ResizeScale(32, 32)),
            ImageNormalization.CaffeBgr, new DataLoaderOptions(BatchSize: 1, Workers: 1, Prefetch: 1, Shuffle: false));
        var created = new List<HpfDet.Data.DetectionBatch>();
        var threeBuilt = new ManualResetEventSlim();
        loader.BatchCreated = b =>
        {
            lock (created)
            {
                created.Add(b);
                if (created.Count == 3) threeBuilt.Set();
            }
        };
        using var cts = new CancellationTokenSource();
        var delivered = new List<HpfDet.Data.DetectionBatch>();
        Assert.ThrowsAny<OperationCanceledException>(() =>
        {
            foreach (var b in loader.Epoch(0, cts.Token))
            {
                delivered.Add(b);
                // Batch 0 delivered, batch 1 queued, batch 2 built and waiting for room: cancel now.
                Assert.True(threeBuilt.Wait(TimeSpan.FromSeconds(30)));
                cts.Cancel();
            }
        });
        foreach (var b in delivered) b.Dispose();
        lock (created)
        {
            Assert.Equal(3, created.Count);
            Assert.All(created, b => Assert.True(b.Images.IsInvalid, "a prepared batch was never disposed"));
        }
    }
}
