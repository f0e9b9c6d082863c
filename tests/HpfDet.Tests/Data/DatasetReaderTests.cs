using System.Text.Json;
using HpfDet.Data;
using HpfDet.Tests.Infrastructure;

namespace HpfDet.Tests.Data;

/// <summary>Readers on the shared real datasets; expected counts come from shared/data/README.md.</summary>
public class DatasetReaderTests
{
    [Fact]
    public void Voc_bccd_all_splits_match_readme_counts_and_drop_the_two_zero_size_boxes()
    {
        var root = TestPaths.Data("bccd");
        var splits = new[] { "train", "val", "test" }.Select(s => VocDatasetReader.Read(root, s)).ToList();
        Assert.Equal(364, splits.Sum(d => d.Count));
        Assert.All(splits, d => Assert.Equal(["Platelets", "RBC", "WBC"], d.ClassNames));

        int Count(string name) => splits.Sum(d => d.Samples.Sum(s => s.Boxes.Count(b => d.ClassNames[b.Label] == name)));
        // README: RBC 4155 including the two zero-size boxes (both RBC), which must be dropped.
        Assert.Equal(4155 - 2, Count("RBC"));
        Assert.Equal(372, Count("WBC"));
        Assert.Equal(361, Count("Platelets"));

        var dropped = splits.SelectMany(d => d.Issues.Items).Where(i => i.DropsBox).ToList();
        Assert.Equal(2, dropped.Count);
        Assert.All(dropped, i => Assert.Equal(DataIssueKind.DegenerateBox, i.Kind));
        Assert.Equal(["BloodImage_00338.xml", "BloodImage_00343.xml"], dropped.Select(i => Path.GetFileName(i.File)).Order());
        Assert.All(dropped, i => Assert.NotNull(i.Line));
        Assert.All(splits.SelectMany(d => d.Samples), s => Assert.Equal((640, 480), (s.Width, s.Height)));
    }

    [Fact]
    public void Voc_box_values_are_read_as_written()
    {
        // BloodImage_00338.xml: first object RBC 453 81 555 182 (checked by eye in the file).
        var d = VocDatasetReader.Read(TestPaths.Data("bccd"), null, new DataReadOptions(ImageCheck: ImageCheck.Exists));
        Assert.Equal(364, d.Count);
        var s = d.Samples.Single(x => x.FileName == "BloodImage_00338.jpg");
        Assert.Equal(new BoxAnnotation(453, 81, 555, 182, d.ClassNames.ToList().IndexOf("RBC")), s.Boxes[0]);
    }

    [Fact]
    public void Yolo_vehicles_splits_match_readme_counts()
    {
        var yaml = Path.Combine(TestPaths.Data("vehicles"), "data.yaml");
        var train = YoloDatasetReader.Read(yaml, "train");
        var val = YoloDatasetReader.Read(yaml, "val");
        var test = YoloDatasetReader.Read(yaml, "test");
        Assert.Equal([439, 125, 63], new[] { train.Count, val.Count, test.Count });
        Assert.Equal(1194, new[] { train, val, test }.Sum(d => d.Samples.Sum(s => s.Boxes.Count)));
        Assert.Equal(["Ambulance", "Bus", "Car", "Motorcycle", "Truck"], train.ClassNames);
        // README: test has 9 Ambulance and 10 Truck boxes.
        Assert.Equal(9, test.Samples.Sum(s => s.Boxes.Count(b => b.Label == 0)));
        Assert.Equal(10, test.Samples.Sum(s => s.Boxes.Count(b => b.Label == 4)));
        Assert.All(train.Samples, s => Assert.Equal((416, 416), (s.Width, s.Height)));
        Assert.All(train.Samples.SelectMany(s => s.Boxes), b => Assert.True(b.X1 >= 0 && b.X2 <= 416 && b.X2 > b.X1 && b.Y2 > b.Y1));
        Assert.Equal(0, train.Issues.DroppedBoxes);
    }

    [Fact]
    public void Yolo_label_line_converts_normalised_centre_size_to_pixel_xyxy()
    {
        using var dir = TestPaths.NewTempDir();
        File.WriteAllText(Path.Combine(dir, "data.yaml"), "train: train/images\nval: train/images\nnc: 2\nnames: {0: a, 1: b}\n");
        DataTestFiles.WritePng(Path.Combine(dir, "train", "images", "x.png"), 200, 100);
        Directory.CreateDirectory(Path.Combine(dir, "train", "labels"));
        File.WriteAllText(Path.Combine(dir, "train", "labels", "x.txt"), "1 0.5 0.5 0.2 0.4\n0 0.1 0.1 0.3 0.1 0.3 0.3\n");
        var d = YoloDatasetReader.Read(Path.Combine(dir, "data.yaml"), "val");
        // cx=100, cy=50, w=40, h=40 → [80, 30, 120, 70]; polygon (20,10),(60,10),(60,30) → [20, 10, 60, 30].
        var boxes = d.Samples.Single().Boxes;
        Assert.Equal(new BoxAnnotation(80, 30, 120, 70, 1), boxes[0]);
        Assert.Equal(20f, boxes[1].X1, 4); Assert.Equal(10f, boxes[1].Y1, 4); Assert.Equal(60f, boxes[1].X2, 4); Assert.Equal(30f, boxes[1].Y2, 4);
    }

    [Fact]
    public void Coco_round_trip_of_bccd_keeps_every_box_and_maps_categories_back()
    {
        var voc = VocDatasetReader.Read(TestPaths.Data("bccd"), "val");
        using var dir = TestPaths.NewTempDir();
        var json = Path.Combine(dir, "gt.json");
        CocoGroundTruthWriter.Write(voc, json);

        using (var doc = JsonDocument.Parse(File.ReadAllText(json)))
        {
            var cats = doc.RootElement.GetProperty("categories").EnumerateArray().Select(c => (c.GetProperty("id").GetInt32(), c.GetProperty("name").GetString())).ToList();
            Assert.Equal([(1, "Platelets"), (2, "RBC"), (3, "WBC")], cats);
            var first = doc.RootElement.GetProperty("annotations")[0];
            var bbox = first.GetProperty("bbox").EnumerateArray().Select(v => v.GetSingle()).ToArray();
            var b0 = voc.Samples[0].Boxes[0];
            Assert.Equal(new[] { b0.X1, b0.Y1, b0.X2 - b0.X1, b0.Y2 - b0.Y1 }, bbox);
            Assert.Equal(bbox[2] * bbox[3], first.GetProperty("area").GetSingle());
        }

        var coco = CocoDatasetReader.Read(json, Path.Combine(TestPaths.Data("bccd"), "JPEGImages"));
        Assert.Equal(voc.ClassNames, coco.ClassNames);
        Assert.Equal([1, 2, 3], coco.CocoCategoryIds!);
        Assert.Equal(voc.Count, coco.Count);
        for (var i = 0; i < voc.Count; i++)
        {
            Assert.Equal(voc.Samples[i].ImageId, coco.Samples[i].ImageId);
            Assert.Equal(voc.Samples[i].Boxes, coco.Samples[i].Boxes);
        }
        Assert.Equal(0, coco.Issues.Count);
    }

    [Fact]
    public void Coco_category_ids_are_made_contiguous_and_written_back_unchanged()
    {
        using var dir = TestPaths.NewTempDir();
        DataTestFiles.WritePng(Path.Combine(dir, "a.png"), 50, 40);
        var json = Path.Combine(dir, "ann.json");
        File.WriteAllText(json, """
            {"images": [{"id": 7, "file_name": "a.png", "width": 50, "height": 40}],
             "annotations": [{"id": 1, "image_id": 7, "category_id": 90, "bbox": [1, 2, 10, 20], "iscrowd": 1},
                             {"id": 2, "image_id": 7, "category_id": 3, "bbox": [5, 5, 4, 4]}],
             "categories": [{"id": 90, "name": "toothbrush"}, {"id": 3, "name": "car"}]}
            """);
        var d = CocoDatasetReader.Read(json);
        Assert.Equal(["car", "toothbrush"], d.ClassNames);
        Assert.Equal([3, 90], d.CocoCategoryIds!);
        Assert.Equal(new BoxAnnotation(1, 2, 11, 22, 1, IsCrowd: true), d.Samples[0].Boxes[0]);
        Assert.Equal(new BoxAnnotation(5, 5, 9, 9, 0), d.Samples[0].Boxes[1]);
        Assert.Equal(7, d.Samples[0].ImageId);

        using var doc = JsonDocument.Parse(CocoGroundTruthWriter.ToJson(d));
        var anns = doc.RootElement.GetProperty("annotations").EnumerateArray().ToList();
        Assert.Equal([90, 3], anns.Select(a => a.GetProperty("category_id").GetInt32()));
        Assert.Equal([1, 0], anns.Select(a => a.GetProperty("iscrowd").GetInt32()));
        Assert.Equal([7L, 7L], anns.Select(a => a.GetProperty("image_id").GetInt64()));
    }
}
