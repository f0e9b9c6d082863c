using HpfDet.Data;
using HpfDet.Tests.Infrastructure;
using HpfDet.Training;

namespace HpfDet.Tests.Data;

/// <summary>Export trees as Roboflow and Ultralytics write them, read as those tools read them.</summary>
public class ExportLayoutTests
{
    /// <summary>Roboflow's YOLO export written into the empty folder <paramref name="root"/>: data.yaml at the root naming ../train/images, split folders with images/ and labels/.</summary>
    internal static string RoboflowYolo(string root)
    {
        File.WriteAllText(Path.Combine(root, "data.yaml"), """
            train: ../train/images
            val: ../valid/images
            test: ../test/images

            nc: 2
            names: ['cat', 'dog']

            roboflow:
              workspace: someone
              project: pets
              version: 3
              license: CC BY 4.0
              url: https://universe.roboflow.com/someone/pets/dataset/3
            """);
        foreach (var (split, n) in new[] { ("train", 3), ("valid", 2), ("test", 1) })
            for (var i = 0; i < n; i++)
            {
                var name = $"img{i}_jpg.rf.0123abcd";
                DataTestFiles.WritePng(Path.Combine(root, split, "images", name + ".png"), 200, 100);
                Directory.CreateDirectory(Path.Combine(root, split, "labels"));
                File.WriteAllText(Path.Combine(root, split, "labels", name + ".txt"), $"{i % 2} 0.5 0.5 0.2 0.4\n");
            }
        return root;
    }

    [Fact]
    public void Roboflow_yolo_export_reads_every_split()
    {
        using var dir = TestPaths.NewTempDir("roboflow-yolo");
        var root = RoboflowYolo(dir);
        var train = YoloDatasetReader.Read(root, "train");
        Assert.Equal(3, train.Count);
        Assert.Equal(0, train.Issues.Count);
        // "0 0.5 0.5 0.2 0.4" on 200x100: centre (100, 50), size (40, 40) → (80, 30, 120, 70).
        var b = Assert.Single(train.Samples[0].Boxes);
        Assert.Equal((80f, 30f, 120f, 70f, 0), (b.X1, b.Y1, b.X2, b.Y2, b.Label));
        Assert.Equal(2, YoloDatasetReader.Read(Path.Combine(root, "data.yaml"), "val").Count);
        Assert.Equal(2, YoloDatasetReader.Read(root, "valid").Count);
        Assert.Equal(1, YoloDatasetReader.Read(root, "test").Count);
        Assert.Equal(Path.Combine("train", "images", "img0_jpg.rf.0123abcd.png"), train.Samples[0].FileName);
    }

    [Fact]
    public void Absolute_path_and_train_naming_the_dataset_itself_are_accepted()
    {
        using var dir = TestPaths.NewTempDir("roboflow-yolo");
        var root = RoboflowYolo(dir);
        File.WriteAllText(Path.Combine(root, "data.yaml"), $"path: {root}\ntrain: train/images\nval: {Path.Combine(root, "valid", "images")}\nnames: [cat, dog]\n");
        Assert.Equal(3, YoloDatasetReader.Read(root, "train").Count);
        Assert.Equal(2, YoloDatasetReader.Read(root, "val").Count);

        // A folder elsewhere is still refused, naming the key.
        using var elsewhere = TestPaths.NewTempDir();
        File.WriteAllText(Path.Combine(root, "data.yaml"), $"path: {elsewhere}\ntrain: train/images\nnames: [cat, dog]\n");
        var e = Assert.Throws<HpfDetException>(() => YoloDatasetReader.Read(root));
        Assert.Contains("data.yaml:1", e.Message);
        Assert.Contains("path", e.Message);
        File.WriteAllText(Path.Combine(root, "data.yaml"), $"train: {Path.Combine(elsewhere)}\nnames: [cat, dog]\n");
        Assert.Contains("leave the dataset folder", Assert.Throws<HpfDetException>(() => YoloDatasetReader.Read(root)).Message);
    }

    [Fact]
    public void Train_lists_and_image_list_files_are_read()
    {
        using var dir = TestPaths.NewTempDir("roboflow-yolo");
        var root = RoboflowYolo(dir);
        File.WriteAllText(Path.Combine(root, "data.yaml"), "train: [train/images, ../valid/images]\nval: val.txt\nnames: {0: cat, 1: dog}\n");
        Assert.Equal(5, YoloDatasetReader.Read(root, "train").Count); // 3 + 2
        // Ultralytics' list format: "./"-relative to the list's folder, absolute paths, comments and blank lines.
        File.WriteAllLines(Path.Combine(root, "val.txt"), [
            "./train/images/img0_jpg.rf.0123abcd.png",
            "",
            Path.Combine(root, "test", "images", "img0_jpg.rf.0123abcd.png"),
            "./train/images/img0_jpg.rf.0123abcd.png",
            "../outside.png",
        ]);
        var val = YoloDatasetReader.Read(root, "val");
        Assert.Equal(2, val.Count);
        Assert.All(val.Samples, s => Assert.Single(s.Boxes)); // labels found by the images → labels rule
        Assert.Equal([DataIssueKind.DuplicateImageId, DataIssueKind.PathEscape], val.Issues.Items.Select(i => i.Kind).Order());
    }

    [Fact]
    public void Ultralytics_layout_finds_labels_by_the_images_to_labels_rule()
    {
        // images/train/x.png → labels/train/x.txt; nested folders keep their structure.
        using var root = TestPaths.NewTempDir("ultralytics");
        File.WriteAllText(Path.Combine(root, "data.yaml"), "path: .\ntrain: images/train\nval: images/val\nnames: [a]\n");
        DataTestFiles.WritePng(Path.Combine(root, "images", "train", "x.png"), 100, 100);
        DataTestFiles.WritePng(Path.Combine(root, "images", "train", "sub", "y.png"), 100, 100);
        Directory.CreateDirectory(Path.Combine(root, "labels", "train", "sub"));
        File.WriteAllText(Path.Combine(root, "labels", "train", "x.txt"), "0 0.5 0.5 0.5 0.5\n");
        File.WriteAllText(Path.Combine(root, "labels", "train", "sub", "y.txt"), "0 0.5 0.5 0.5 0.5\n0 0.25 0.25 0.1 0.1\n");
        File.WriteAllBytes(Path.Combine(root, "images", "train", "._x.png"), [0, 5, 22, 7]); // macOS metadata: skipped as Python's glob does
        var d = YoloDatasetReader.Read(root);
        Assert.Equal(0, d.Issues.Count);
        Assert.Equal([2, 1], d.Samples.Select(s => s.Boxes.Count)); // ordinal order: images/train/sub/y.png before images/train/x.png
        Assert.Equal(Path.Combine(root, "labels", "train", "sub", "y.txt"), YoloDatasetReader.LabelPathFor(Path.Combine(root, "images", "train", "sub", "y.png")));
        Assert.Equal(Path.Combine(root, "pics", "a.txt"), YoloDatasetReader.LabelPathFor(Path.Combine(root, "pics", "a.jpg")));
    }

    /// <summary>Roboflow's COCO export written into the empty folder <paramref name="root"/>: train/, valid/, test/ each with images and _annotations.coco.json.</summary>
    internal static string RoboflowCoco(string root)
    {
        foreach (var (split, n) in new[] { ("train", 3), ("valid", 2), ("test", 1) })
        {
            var images = string.Join(", ", Enumerable.Range(0, n).Select(i => $$"""{"id": {{i}}, "license": 1, "file_name": "p{{i}}_jpg.rf.abc.png", "height": 80, "width": 100, "date_captured": "2024-01-01T00:00:00+00:00"}"""));
            var annotations = string.Join(", ", Enumerable.Range(0, n).Select(i => $$"""{"id": {{i}}, "image_id": {{i}}, "category_id": 1, "bbox": [10, 20, 30, 40], "area": 1200, "segmentation": [], "iscrowd": 0}"""));
            Directory.CreateDirectory(Path.Combine(root, split));
            File.WriteAllText(Path.Combine(root, split, "_annotations.coco.json"), $$"""
                {"info": {"year": "2024", "version": "3"}, "licenses": [{"id": 1, "name": "CC BY 4.0"}],
                 "categories": [{"id": 0, "name": "pets", "supercategory": "none"}, {"id": 1, "name": "cat", "supercategory": "pets"}, {"id": 2, "name": "dog", "supercategory": "pets"}],
                 "images": [{{images}}], "annotations": [{{annotations}}]}
                """);
            for (var i = 0; i < n; i++) DataTestFiles.WritePng(Path.Combine(root, split, $"p{i}_jpg.rf.abc.png"), 100, 80);
        }
        return root;
    }

    [Fact]
    public void Roboflow_coco_export_reads_its_split_folders()
    {
        using var dir = TestPaths.NewTempDir("roboflow-coco");
        var root = RoboflowCoco(dir);
        var train = CocoDatasetReader.Read(root);
        Assert.Equal(3, train.Count);
        Assert.Equal(0, train.Issues.Count);
        var b = train.Samples[0].Boxes[0];
        Assert.Equal((10f, 20f, 40f, 60f), (b.X1, b.Y1, b.X2, b.Y2)); // [10, 20, 30, 40] as xyxy
        Assert.Equal(["pets", "cat", "dog"], train.ClassNames);
        Assert.Equal(2, CocoDatasetReader.Read(root, split: "valid").Count);
        Assert.Equal(2, CocoDatasetReader.Read(root, split: "val").Count);
        Assert.Equal(1, CocoDatasetReader.Read(root, split: "test").Count);
        Assert.Equal(2, CocoDatasetReader.Read(Path.Combine(root, "valid")).Count); // a split folder itself
        Assert.Contains("splits found: train, valid, test", Assert.Throws<HpfDetException>(() => CocoDatasetReader.Read(root, split: "holdout")).Message);

        // The run configuration: data.path is the export folder, the splits name its folders (val → valid).
        var config = new RunConfig { Data = { Format = "coco", Path = root } };
        var (t, v) = config.LoadDatasets();
        Assert.Equal((3, 2), (t.Count, v.Count));
        // The file-per-split form keeps working.
        config = new RunConfig { Data = { Format = "coco", Path = Path.Combine(root, "train", "_annotations.coco.json"), ValSplit = Path.Combine(root, "test", "_annotations.coco.json") } };
        (t, v) = config.LoadDatasets();
        Assert.Equal((3, 1), (t.Count, v.Count));
    }
}
