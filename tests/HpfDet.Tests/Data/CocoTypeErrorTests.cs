using HpfDet.Data;
using HpfDet.Evaluation;
using HpfDet.Tests.Infrastructure;

namespace HpfDet.Tests.Data;

/// <summary>COCO files with wrong JSON types: the dataset reader and the evaluation reader give the same clear error.</summary>
public class CocoTypeErrorTests : IDisposable
{
    readonly TempDir temp = TestPaths.NewTempDir();

    public void Dispose() => temp.Dispose();

    const string Categories = """ "categories": [{"id": 1, "name": "cell"}] """;

    string Write(string json)
    {
        var dir = temp.NewSubdir();
        DataTestFiles.WritePng(Path.Combine(dir, "a.png"), 100, 80);
        DataTestFiles.WritePng(Path.Combine(dir, "b.png"), 100, 80);
        var path = Path.Combine(dir, "gt.json");
        File.WriteAllText(path, json);
        return path;
    }

    public static TheoryData<string, string, string> WrongTypes => new()
    {
        // JSON, the entry.field the message must name, what it must say
        { $$"""{"images": [{"id": "1", "file_name": "a.png", "width": 100, "height": 80}], "annotations": [], {{Categories}}}""", "images[0].id", "must be an integer, found String" },
        { $$"""{"images": [{"id": 1, "file_name": "a.png", "width": null, "height": 80}], "annotations": [], {{Categories}}}""", "images[0].width", "must be a number, found Null" },
        { $$"""{"images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 80}], "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]}, 7], {{Categories}}}""", "annotations[1]", "must be an object" },
        { $$"""{"images": [{"id": 1, "file_name": "a.png"}], "annotations": [{"id": 1, "image_id": 1, "category_id": "1", "bbox": [1, 2, 3, 4]}], {{Categories}}}""", "annotations[0].category_id", "must be an integer" },
        { $$"""{"images": [{"id": 1, "file_name": "a.png"}], "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, "2", 3, 4]}], {{Categories}}}""", "annotations[0].bbox", "4 finite numbers" },
        { $$"""{"images": [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "b.png"}], "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "iscrowd": "yes"}], {{Categories}}}""", "annotations[0].iscrowd", "must be 0/1 or true/false" },
        { $$"""{"images": [{"id": 1, "file_name": "a.png", "height": 80.5}], "annotations": [], {{Categories}}}""", "images[0].height", "whole number" },
        { $$"""{"images": {"id": 1}, "annotations": [], {{Categories}}}""", "'images'", "must be an array" },
        { """{"images": [], "annotations": [], "categories": [{"id": 1.5, "name": "x"}]}""", "categories[0].id", "must be a 64-bit integer, found 1.5" },
        { """{"images": [], "annotations": [], "categories": [{"id": 1e400, "name": "x"}]}""", "categories[0].id", "must be a 64-bit integer, found 1e400" },
    };

    [Theory]
    [MemberData(nameof(WrongTypes))]
    public void Dataset_and_eval_readers_name_the_entry_and_field(string json, string entryField, string says)
    {
        var path = Write(json);
        foreach (var read in new Action[] { () => CocoDatasetReader.Read(path), () => CocoGroundTruth.Load(path) })
        {
            var e = Assert.Throws<HpfDetException>(read);
            Assert.Contains(entryField, e.Message);
            Assert.Contains(says, e.Message);
            Assert.Contains("gt.json", e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
    }

    [Fact]
    public void Boolean_iscrowd_is_read_as_a_crowd_flag()
    {
        var path = Write($$"""
            {"images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 80}],
             "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "iscrowd": true},
                             {"id": 2, "image_id": 1, "category_id": 1, "bbox": [50, 10, 20, 20], "iscrowd": false}],
             {{Categories}}}
            """);
        var d = CocoDatasetReader.Read(path);
        Assert.Equal([true, false], d.Samples[0].Boxes.Select(b => b.IsCrowd));
        Assert.Equal([true, false], CocoGroundTruth.Load(path).Annotations.Select(a => a.IsCrowd));
    }

    [Fact]
    public void Annotations_without_ids_train_but_do_not_evaluate()
    {
        // Training needs no annotation id; evaluation matches by id, as pycocotools does.
        var path = Write($$"""{"images": [{"id": 1, "file_name": "a.png"}], "annotations": [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20]}], {{Categories}}}""");
        Assert.Single(CocoDatasetReader.Read(path).Samples[0].Boxes);
        Assert.Contains("annotations[0] has no 'id'", Assert.Throws<HpfDetException>(() => CocoGroundTruth.Load(path)).Message);
    }
}
