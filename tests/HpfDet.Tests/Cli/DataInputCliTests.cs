using HpfDet.Cli;
using HpfDet.Tests.Data;
using HpfDet.Tests.Infrastructure;

namespace HpfDet.Tests.Cli;

/// <summary>`hpfdet info` on real export layouts and on bad data: exit 0, or exit 3 with one line.</summary>
[Collection(ConsoleCollection.Name)]
public class DataInputCliTests
{
    static (int Code, string Out, string Err) Run(params string[] args)
    {
        var (previousOut, previousErr) = (Console.Out, Console.Error);
        var (output, err) = (new StringWriter(), new StringWriter());
        Console.SetOut(output);
        Console.SetError(err);
        try { return (CliRunner.Run(CliRunner.CreateRoot(), args), output.ToString(), err.ToString()); }
        finally
        {
            Console.SetOut(previousOut);
            Console.SetError(previousErr);
        }
    }

    [Fact]
    public void Info_reads_roboflow_coco_and_yolo_exports()
    {
        using var cocoDir = TestPaths.NewTempDir("roboflow-coco");
        var coco = ExportLayoutTests.RoboflowCoco(cocoDir);
        var (code, output, err) = Run("info", "--format", "coco", "--data", coco, "--split", "valid");
        Assert.True(code == 0, err);
        Assert.Contains("images:  2", output);
        using var yoloDir = TestPaths.NewTempDir("roboflow-yolo");
        (code, output, err) = Run("info", "--format", "yolo", "--data", ExportLayoutTests.RoboflowYolo(yoloDir));
        Assert.True(code == 0, err);
        Assert.Contains("images:  3", output);
    }

    [Fact]
    public void Wrong_coco_type_is_exit_3_with_one_line_and_a_linked_label_is_never_printed()
    {
        using var dir = TestPaths.NewTempDir();
        DataTestFiles.WritePng(Path.Combine(dir, "a.png"), 40, 30);
        File.WriteAllText(Path.Combine(dir, "gt.json"), """
            {"images": [{"id": 1, "file_name": "a.png"}], "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "iscrowd": "yes"}], "categories": [{"id": 1, "name": "a"}]}
            """);
        var (code, _, err) = Run("info", "--format", "coco", "--data", Path.Combine(dir, "gt.json"));
        Assert.Equal(3, code);
        Assert.Single(err.Trim().Split('\n'));
        Assert.Contains("annotations[0].iscrowd", err);

        using var linked = TestPaths.NewTempDir("yolo");
        var (root, _) = DataPathSafetyTests.YoloWithOutsideFile(linked);
        (code, var output, err) = Run("info", "--format", "yolo", "--data", root);
        Assert.True(code == 0, err);
        Assert.Contains("symbolic link leading out of the dataset", output);
        Assert.DoesNotContain("secret-line", output + err);
    }
}
