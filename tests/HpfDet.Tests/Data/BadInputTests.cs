using System.Text.Json;
using HpfDet.Data;
using HpfDet.Tests.Infrastructure;

namespace HpfDet.Tests.Data;

/// <summary>Every bad-input case: skipped with a counted, named issue by default; an error in strict mode.</summary>
public class BadInputTests : IDisposable
{
    readonly TempDir temp = TestPaths.NewTempDir();

    public void Dispose() => temp.Dispose();

    static readonly DataReadOptions StrictOptions = new(Strict: true);

    string VocWith(string xml, bool writeImage = true)
    {
        var root = temp.NewSubdir();
        var images = writeImage ? new Dictionary<string, (int, int)> { ["a.png"] = (100, 80) } : [];
        return DataTestFiles.Voc(root, new() { ["a"] = xml, ["b"] = DataTestFiles.VocXml("b.png", 100, 80, ("cat", "1", "1", "9", "9")) },
            new(images) { ["b.png"] = (100, 80) });
    }

    [Fact]
    public void Missing_image_file_skips_the_sample_and_names_it()
    {
        var root = VocWith(DataTestFiles.VocXml("a.png", 100, 80, ("cat", "1", "1", "9", "9")), writeImage: false);
        var d = VocDatasetReader.Read(root, "all");
        Assert.Equal(1, d.Count);
        var issue = Assert.Single(d.Issues.Items);
        Assert.Equal(DataIssueKind.MissingImage, issue.Kind);
        Assert.Contains("a.png", issue.Reason);
        Assert.Equal(1, d.Issues.SkippedSamples);
        var e = Assert.Throws<HpfDetException>(() => VocDatasetReader.Read(root, "all", StrictOptions));
        Assert.Contains("a.png", e.Message);
    }

    [Fact]
    public void Truncated_and_non_image_files_are_reported_as_corrupt()
    {
        var root = VocWith(DataTestFiles.VocXml("a.png", 100, 80, ("cat", "1", "1", "9", "9")));
        var a = Path.Combine(root, "JPEGImages", "a.png");
        // Truncated: the header survives, so only a full decode notices.
        File.WriteAllBytes(a, File.ReadAllBytes(a)[..60]);
        Assert.Equal(2, VocDatasetReader.Read(root, "all").Count);
        var full = VocDatasetReader.Read(root, "all", new DataReadOptions(ImageCheck: ImageCheck.FullDecode));
        Assert.Equal(1, full.Count);
        Assert.Equal(DataIssueKind.CorruptImage, Assert.Single(full.Issues.Items).Kind);
        var decodeError = Assert.Throws<HpfDetException>(() => ImageDecoder.Decode(a));
        Assert.Contains("a.png", decodeError.Message);

        // Not an image at all: the header check finds it.
        File.WriteAllText(a, "this is not an image");
        var d = VocDatasetReader.Read(root, "all");
        Assert.Equal(1, d.Count);
        Assert.Equal(DataIssueKind.CorruptImage, Assert.Single(d.Issues.Items).Kind);
    }

    [Fact]
    public void Unknown_class_drops_the_box_in_voc_yolo_and_coco()
    {
        var voc = VocWith(DataTestFiles.VocXml("a.png", 100, 80, ("cat", "1", "1", "9", "9"), ("zebra", "1", "1", "9", "9")));
        var d = VocDatasetReader.Read(voc, "all", new DataReadOptions(ClassNames: ["cat"]));
        Assert.Single(d.Samples[0].Boxes);
        var issue = Assert.Single(d.Issues.Items);
        Assert.Equal(DataIssueKind.UnknownClass, issue.Kind);
        Assert.Contains("zebra", issue.Reason);
        Assert.NotNull(issue.Line);

        using var yolo = TestPaths.NewTempDir();
        File.WriteAllText(Path.Combine(yolo, "data.yaml"), "train: images\nnames: [a, b]\n");
        DataTestFiles.WritePng(Path.Combine(yolo, "images", "x.png"), 50, 50);
        Directory.CreateDirectory(Path.Combine(yolo, "labels"));
        File.WriteAllText(Path.Combine(yolo, "labels", "x.txt"), "0 0.5 0.5 0.2 0.2\n7 0.5 0.5 0.2 0.2\n1 0.5 oops 0.2 0.2\n");
        var y = YoloDatasetReader.Read(Path.Combine(yolo, "data.yaml"));
        Assert.Single(y.Samples[0].Boxes);
        Assert.Equal([(DataIssueKind.UnknownClass, 2), (DataIssueKind.MalformedBox, 3)], y.Issues.Items.Select(i => (i.Kind, i.Line ?? 0)));

        using var coco = TestPaths.NewTempDir();
        DataTestFiles.WritePng(Path.Combine(coco, "a.png"), 50, 50);
        File.WriteAllText(Path.Combine(coco, "gt.json"), """
            {"images": [{"id": 1, "file_name": "a.png", "width": 50, "height": 50}],
             "annotations": [{"image_id": 1, "category_id": 5, "bbox": [1, 1, 5, 5]}, {"image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}],
             "categories": [{"id": 1, "name": "a"}]}
            """);
        var c = CocoDatasetReader.Read(Path.Combine(coco, "gt.json"));
        Assert.Single(c.Samples[0].Boxes);
        Assert.Equal(DataIssueKind.UnknownClass, Assert.Single(c.Issues.Items).Kind);
    }

    [Fact]
    public void Box_outside_the_image_is_clipped_and_degenerate_boxes_are_dropped()
    {
        var root = VocWith(DataTestFiles.VocXml("a.png", 100, 80,
            ("cat", "-5", "10", "120", "90"),   // clipped to [0, 10, 100, 80]
            ("cat", "30", "30", "30", "50"),    // zero width
            ("cat", "50", "40", "20", "60"),    // negative width
            ("cat", "150", "10", "160", "20"))); // entirely outside
        var d = VocDatasetReader.Read(root, "all");
        var a = d.Samples.Single(s => s.FileName == "a.png");
        Assert.Equal([new BoxAnnotation(0, 10, 100, 80, 0)], a.Boxes);
        Assert.Equal(1, d.Issues.ClippedBoxes);
        Assert.Equal(3, d.Issues.DroppedBoxes);
        var stats = DatasetStatistics.Compute(d);
        using var json = JsonDocument.Parse(stats.ToJson());
        Assert.Equal(3, json.RootElement.GetProperty("dropped").GetArrayLength());
        Assert.All(json.RootElement.GetProperty("dropped").EnumerateArray(), x => Assert.EndsWith("a.xml", x.GetProperty("file").GetString()));
        Assert.Equal(2, json.RootElement.GetProperty("boxes").GetInt32());
        Assert.Throws<HpfDetException>(() => VocDatasetReader.Read(root, "all", StrictOptions));
    }

    [Fact]
    public void Malformed_xml_names_the_file_and_line()
    {
        var root = VocWith("<annotation>\n  <filename>a.png</filename>\n  <object><name>cat</name>\n</annotation>");
        var d = VocDatasetReader.Read(root, "all");
        Assert.Equal(1, d.Count);
        var issue = Assert.Single(d.Issues.Items);
        Assert.Equal(DataIssueKind.MalformedAnnotation, issue.Kind);
        Assert.EndsWith("a.xml", issue.File);
        Assert.Equal(4, issue.Line);
        var e = Assert.Throws<HpfDetException>(() => VocDatasetReader.Read(root, "all", StrictOptions));
        Assert.Contains("a.xml:4", e.Message);
    }

    [Fact]
    public void Malformed_json_and_yaml_name_the_file_and_line()
    {
        using var dir = TestPaths.NewTempDir();
        var json = Path.Combine(dir, "gt.json");
        File.WriteAllText(json, "{\n  \"images\": [],\n  \"categories\": [ {\"id\": 1 \"name\": \"a\"} ]\n}");
        // The dataset reader and the evaluation reader share one parser and one message format.
        var e = Assert.Throws<HpfDetException>(() => CocoDatasetReader.Read(json));
        Assert.Contains("gt.json', line 3", e.Message);

        var yaml = Path.Combine(dir, "data.yaml");
        File.WriteAllText(yaml, "train: images\nnames: [a, b]\nval: 'unterminated\n");
        var y = Assert.Throws<HpfDetException>(() => YoloDatasetReader.Read(yaml));
        Assert.Matches(@"data\.yaml:\d+: malformed YAML", y.Message);
        File.WriteAllText(yaml, "train: images\nnames: [a, b\nval: x\n");
        Assert.Contains("data.yaml", Assert.Throws<HpfDetException>(() => YoloDatasetReader.Read(yaml)).Message);

        File.WriteAllText(yaml, "train: images\nnc: 3\nnames: [a, b]\n");
        Assert.Contains("data.yaml:2", Assert.Throws<HpfDetException>(() => YoloDatasetReader.Read(yaml)).Message);
    }

    [Fact]
    public void Duplicate_image_ids_skip_the_later_image()
    {
        using var dir = TestPaths.NewTempDir();
        DataTestFiles.WritePng(Path.Combine(dir, "a.png"), 50, 50);
        DataTestFiles.WritePng(Path.Combine(dir, "b.png"), 50, 50);
        var json = Path.Combine(dir, "gt.json");
        File.WriteAllText(json, """
            {"images": [{"id": 1, "file_name": "a.png", "width": 50, "height": 50}, {"id": 1, "file_name": "b.png", "width": 50, "height": 50}],
             "annotations": [], "categories": [{"id": 1, "name": "a"}]}
            """);
        var d = CocoDatasetReader.Read(json);
        Assert.Equal("a.png", Assert.Single(d.Samples).FileName);
        var issue = Assert.Single(d.Issues.Items);
        Assert.Equal(DataIssueKind.DuplicateImageId, issue.Kind);
        Assert.Contains("b.png", issue.Reason);
        Assert.Throws<HpfDetException>(() => CocoDatasetReader.Read(json, null, StrictOptions));
    }

    [Fact]
    public void Empty_or_missing_split_file_is_an_error()
    {
        var root = VocWith(DataTestFiles.VocXml("a.png", 100, 80));
        File.WriteAllText(Path.Combine(root, "ImageSets", "Main", "train.txt"), "\n  \n");
        var e = Assert.Throws<HpfDetException>(() => VocDatasetReader.Read(root, "train"));
        Assert.Contains("train.txt", e.Message);
        Assert.Contains("no images", e.Message);
        var missing = Assert.Throws<HpfDetException>(() => VocDatasetReader.Read(root, "val"));
        Assert.Contains("all", missing.Message); // lists the available splits
    }

    [Fact]
    public void Paths_leaving_the_dataset_folder_are_refused()
    {
        var root = VocWith(DataTestFiles.VocXml("../../outside.png", 100, 80));
        DataTestFiles.WritePng(Path.Combine(root, "..", "outside.png"), 10, 10);
        var d = VocDatasetReader.Read(root, "all");
        Assert.Equal(DataIssueKind.PathEscape, Assert.Single(d.Issues.Items).Kind);
        Assert.Throws<HpfDetException>(() => VocDatasetReader.Read(root, "../../x"));

        using var dir = TestPaths.NewTempDir();
        File.WriteAllText(Path.Combine(dir, "gt.json"), """
            {"images": [{"id": 1, "file_name": "/etc/hostname"}, {"id": 2, "file_name": "../x.png"}], "annotations": [], "categories": [{"id": 1, "name": "a"}]}
            """);
        var c = CocoDatasetReader.Read(Path.Combine(dir, "gt.json"));
        Assert.Equal(0, c.Count);
        Assert.Equal([DataIssueKind.PathEscape, DataIssueKind.PathEscape], c.Issues.Items.Select(i => i.Kind));

        File.WriteAllText(Path.Combine(dir, "data.yaml"), "train: ../../images\nnames: [a]\n");
        var y = Assert.Throws<HpfDetException>(() => YoloDatasetReader.Read(Path.Combine(dir, "data.yaml")));
        Assert.Contains("data.yaml:1", y.Message);
        Assert.Contains("leave", y.Message);
    }

    [Fact]
    public void Issue_summary_counts_kinds_and_names_files()
    {
        var root = VocWith(DataTestFiles.VocXml("a.png", 100, 80, ("cat", "5", "5", "5", "9")));
        var summary = VocDatasetReader.Read(root, "all").Issues.Summary();
        Assert.Contains("1 DegenerateBox", summary);
        Assert.Contains("a.xml", summary);
    }
}
