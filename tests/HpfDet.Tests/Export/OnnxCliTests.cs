using System.Text.Json;
using HpfDet.Cli;
using HpfDet.Tests.Infrastructure;
using HpfDet.Training;
using Xunit.Abstractions;

namespace HpfDet.Tests.Export;

/// <summary>
/// hpfdet export, detect --engine onnx and eval --onnx end to end on a tiny trained run: the ONNX path
/// gives the libtorch path's results file and COCO AP; bad inputs are one-line errors with exit code 3.
/// </summary>
[Collection(SequentialCollection.Name)]
public class OnnxCliTests(ITestOutputHelper output)
{
    static readonly string[] Tiny =
    [
        "--data", "synthetic", "--epochs", "1", "--batch", "4", "--scale", "64",
        "--set", "model.pretrained=false", "--set", "model.fpn_channels=32", "--set", "model.head_channels=32",
        "--set", "model.head_convs=1", "--set", "model.head_groups=8", "--set", "data.synthetic_count=8",
        "--set", "data.synthetic_val_count=6", "--set", "data.synthetic_size=80", "--set", "train.max_size=96",
        "--set", "train.warmup_iters=2", "--set", "data.workers=1", "--set", "test.score_threshold=0.001",
    ];

    static (int Code, string Out, string Err) Run(params string[] args)
    {
        var (previousOut, previousErr) = (Console.Out, Console.Error);
        var (o, e) = (new StringWriter(), new StringWriter());
        Console.SetOut(o);
        Console.SetError(e);
        try { return (CliRunner.Run(CliRunner.CreateRoot(), args), o.ToString(), e.ToString()); }
        finally { Console.SetOut(previousOut); Console.SetError(previousErr); }
    }

    static double ApOf(string json)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        return doc.RootElement.GetProperty("stats")[0].GetDouble();
    }

    [Fact]
    public void ExportThenDetectAndEvalWithOnnxRuntimeGiveTheLibtorchResults()
    {
        using var root = TestPaths.NewTempDir("hpfdet-onnx-cli");
        var runDir = Path.Combine(root, "run");
        Assert.Equal(0, Run(["train", .. Tiny, "--loss", "fl", "--out", runDir]).Code);
        var ckpt = Path.Combine(runDir, "checkpoints", "last.ckpt");
        var model = Path.Combine(root, "model.onnx");
        var export = Run("export", "--weights", ckpt, "--out", model);
        Assert.True(export.Code == 0, export.Err);
        Assert.Contains("opset 17", export.Out);

        // detect: same results.json with both engines.
        var images = Path.Combine(root, "images");
        HpfDet.Data.SyntheticShapesDataset.Generate(images, new HpfDet.Data.SyntheticShapesOptions(Count: 3, ImageSize: 72));
        var torchOut = Path.Combine(root, "det-torch");
        var onnxOut = Path.Combine(root, "det-onnx");
        Assert.Equal(0, Run("detect", "--weights", ckpt, "--images", Path.Combine(images, "images"), "--out", torchOut).Code);
        var onnxRun = Run("detect", "--engine", "onnx", "--model", model, "--images", Path.Combine(images, "images"), "--out", onnxOut);
        Assert.True(onnxRun.Code == 0, onnxRun.Err);
        Assert.Equal(3, Directory.GetFiles(onnxOut, "*.png").Length);
        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(torchOut, "results.json")));
        using var actual = JsonDocument.Parse(File.ReadAllText(Path.Combine(onnxOut, "results.json")));
        var e = expected.RootElement.EnumerateArray().ToList();
        var a = actual.RootElement.EnumerateArray().ToList();
        Assert.Equal(e.Count, a.Count);
        Assert.NotEmpty(e);
        double worstBox = 0, worstScore = 0;
        for (int i = 0; i < e.Count; i++)
        {
            Assert.Equal(e[i].GetProperty("image_id").GetInt64(), a[i].GetProperty("image_id").GetInt64());
            Assert.Equal(e[i].GetProperty("category_id").GetInt32(), a[i].GetProperty("category_id").GetInt32());
            var eb = e[i].GetProperty("bbox").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            var ab = a[i].GetProperty("bbox").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            worstBox = Math.Max(worstBox, eb.Zip(ab, (x, y) => Math.Abs(x - y)).Max());
            worstScore = Math.Max(worstScore, Math.Abs(e[i].GetProperty("score").GetDouble() - a[i].GetProperty("score").GetDouble()));
        }
        output.WriteLine($"detect: {e.Count} detections, max |diff| boxes {worstBox:E2} px, scores {worstScore:E2}");
        Assert.True(worstBox <= 1e-2, $"boxes differ by {worstBox} px");
        Assert.True(worstScore <= 1e-4, $"scores differ by {worstScore}");

        // eval: the exported model on the run's validation split (named in its metadata) gives libtorch's AP.
        var torchJson = Path.Combine(root, "eval-torch.json");
        var onnxJson = Path.Combine(root, "eval-onnx.json");
        Assert.Equal(0, Run("eval", "--weights", ckpt, "--data", "synthetic", "--json", torchJson).Code);
        var onnxEval = Run("eval", "--onnx", model, "--json", onnxJson);
        Assert.True(onnxEval.Code == 0, onnxEval.Err);
        Assert.Contains("ONNX Runtime", onnxEval.Out);
        output.WriteLine($"COCO AP libtorch {ApOf(torchJson):F4}, ONNX Runtime {ApOf(onnxJson):F4}");
        Assert.Equal(ApOf(torchJson), ApOf(onnxJson), 3);

        // Bad input: a corrupt model and an undecodable image are one-line errors, exit 3.
        var corrupt = Path.Combine(root, "corrupt.onnx");
        File.WriteAllBytes(corrupt, File.ReadAllBytes(model).Take(1000).ToArray());
        var bad = Run("detect", "--engine", "onnx", "--model", corrupt, "--images", Path.Combine(images, "images"), "--out", Path.Combine(root, "x"));
        Assert.Equal(ExitCodes.UserError, bad.Code);
        Assert.Contains("not a valid ONNX model", bad.Err);
        Assert.DoesNotContain("   at ", bad.Err);
        Assert.Equal(ExitCodes.UsageError, Run("detect", "--engine", "onnx", "--images", images, "--out", root).Code);

        // A checkpoint whose configuration names an unknown detector.
        var (info, tensors) = Checkpoint.Load(ckpt);
        var config = RunConfig.FromJson(info.Config);
        var strange = Path.Combine(root, "strange.ckpt");
        using (var tiny = config.BuildDetector(info.ClassNames.Count, loadPretrained: false))
        {
            config.Model.Name = "yolo-r18";
            Checkpoint.Save(strange, info with { Config = config.ToJson() }, tiny, null);
        }
        foreach (var t in tensors.Values) t.Dispose();
        var unknown = Run("export", "--weights", strange, "--out", Path.Combine(root, "strange.onnx"));
        Assert.Equal(ExitCodes.UserError, unknown.Code);
        Assert.Contains("yolo-r18", unknown.Err);
    }
}
