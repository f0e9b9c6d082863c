using System.Text.Json;
using HpfDet.Cli;
using HpfDet.Tests.Infrastructure;
using HpfDet.Training;

namespace HpfDet.Tests.Cli;

/// <summary>The hpfdet tool end to end on tiny synthetic runs: every promised file exists and parses.</summary>
[Collection(ConsoleCollection.Name)]
public class CliEndToEndTests
{
    /// <summary>A model and data small enough for a few seconds per run.</summary>
    internal static readonly string[] Tiny =
    [
        "--data", "synthetic", "--epochs", "1", "--batch", "4", "--scale", "64",
        "--set", "model.pretrained=false", "--set", "model.fpn_channels=32", "--set", "model.head_channels=32",
        "--set", "model.head_convs=1", "--set", "model.head_groups=8", "--set", "data.synthetic_count=8",
        "--set", "data.synthetic_val_count=4", "--set", "data.synthetic_size=64", "--set", "train.max_size=64",
        "--set", "train.warmup_iters=2", "--set", "data.workers=1",
    ];

    static int Run(params string[] args) => CliRunner.Run(CliRunner.CreateRoot(), args);

    static (int Code, string Err) RunCapturingErrors(params string[] args)
    {
        var (code, _, err) = CliHarness.Run(args);
        return (code, err);
    }

    [Fact]
    public void TrainEvalDetectAndCompareWriteEveryPromisedFile()
    {
        using var root = TestPaths.NewTempDir("hpfdet-cli");
        var runDir = Path.Combine(root, "run");
        Assert.Equal(0, Run(["train", .. Tiny, "--loss", "hpf", "--out", runDir]));
        foreach (var f in new[] { "config.yaml", "log.jsonl", "checkpoints/last.ckpt", "eval/final.json", "eval/summary.txt", "eval/detections.json", "plots/loss.png", "plots/gamma.png", "plots/lr.png", "detections/000001.png" })
            Assert.True(File.Exists(Path.Combine(runDir, f)), $"missing {f}");
        var (iterations, evaluations) = TrainingLogJson.Read(Path.Combine(runDir, "log.jsonl"));
        Assert.Equal(2, iterations.Count);            // 8 images / batch 4
        Assert.Single(evaluations);
        Assert.Equal(5, iterations[0].Gamma.Length);
        var saved = RunConfig.Load(Path.Combine(runDir, "config.yaml"));
        Assert.Equal(32, saved.Model.HeadChannels);
        Assert.Equal("hpf", saved.Loss.Name);
        using (var final = JsonDocument.Parse(File.ReadAllText(Path.Combine(runDir, "eval", "final.json"))))
            Assert.Equal(12, final.RootElement.GetProperty("stats").GetArrayLength());

        // Evaluate the checkpoint on the synthetic validation split.
        var evalJson = Path.Combine(root, "eval.json");
        Assert.Equal(0, Run(["eval", "--weights", Path.Combine(runDir, "checkpoints", "last.ckpt"), "--data", "synthetic", "--json", evalJson]));
        using (var e = JsonDocument.Parse(File.ReadAllText(evalJson)))
            Assert.Equal(6, e.RootElement.GetProperty("per_category").GetArrayLength());

        // The same in bfloat16 (the inference-only preparation); --precision belongs to libtorch checkpoints only.
        var evalBf16 = Path.Combine(root, "eval-bf16.json");
        Assert.Equal(0, Run(["eval", "--weights", Path.Combine(runDir, "checkpoints", "last.ckpt"), "--data", "synthetic", "--precision", "bf16", "--json", evalBf16]));
        using (var e = JsonDocument.Parse(File.ReadAllText(evalBf16)))
            Assert.Equal(6, e.RootElement.GetProperty("per_category").GetArrayLength());
        var (precisionCode, precisionError) = RunCapturingErrors(["eval", "--onnx", Path.Combine(root, "none.onnx"), "--data", "synthetic", "--precision", "bf16"]);
        Assert.NotEqual(0, precisionCode);
        Assert.Contains("--precision", precisionError);

        // Detect on a folder of generated images.
        var images = Path.Combine(root, "images");
        HpfDet.Data.SyntheticShapesDataset.Generate(images, new HpfDet.Data.SyntheticShapesOptions(Count: 2, ImageSize: 64));
        var detOut = Path.Combine(root, "detections");
        Assert.Equal(0, Run(["detect", "--weights", Path.Combine(runDir, "checkpoints", "last.ckpt"), "--images", Path.Combine(images, "images"), "--out", detOut, "--score", "0.0"]));
        Assert.Equal(2, Directory.GetFiles(detOut, "*.png").Length);
        using (var r = JsonDocument.Parse(File.ReadAllText(Path.Combine(detOut, "results.json"))))
            Assert.Equal(JsonValueKind.Array, r.RootElement.ValueKind);

        // Compare two losses with one seed each.
        var cmpDir = Path.Combine(root, "compare");
        Assert.Equal(0, Run(["compare", .. Tiny, "--losses", "fl,hpf", "--seeds", "1", "--out", cmpDir]));
        foreach (var f in new[] { "report.md", "ap_by_loss.png", "loss_curves.png", "fl-seed0/eval/final.json", "hpf-seed0/eval/final.json" })
            Assert.True(File.Exists(Path.Combine(cmpDir, f)), $"missing {f}");
        Assert.Contains("hpf", File.ReadAllText(Path.Combine(cmpDir, "report.md")));
        // A finished comparison run keeps its log compressed, and the report still drew its curves from it.
        Assert.True(File.Exists(Path.Combine(cmpDir, "hpf-seed0", "log.jsonl.gz")));
        Assert.False(File.Exists(Path.Combine(cmpDir, "hpf-seed0", "log.jsonl")));
        Assert.DoesNotContain("Runs without log", File.ReadAllText(Path.Combine(cmpDir, "report.md")));

        // Resume refuses a missing run, and a second train into the same folder asks for --resume.
        Assert.Equal(ExitCodes.UserError, RunCapturingErrors(["train", "--resume", Path.Combine(root, "nothing")]).Code);
        var (code, err) = RunCapturingErrors(["train", .. Tiny, "--out", runDir]);
        Assert.Equal(ExitCodes.UserError, code);
        Assert.Contains("--resume", err);
    }

    public static TheoryData<string> EveryDetectorFamily => new(HpfDet.Models.DetectorRegistry.Families.Select(f => f.Name));

    /// <summary>Each of the nine detectors through the tool: trained with HPF (per-level γ logged), then its checkpoint evaluated and run on images.</summary>
    [Theory]
    [MemberData(nameof(EveryDetectorFamily))]
    public void EveryDetectorTrainsWithHpfAndItsCheckpointEvaluatesAndDetects(string family)
    {
        using var root = TestPaths.NewTempDir($"hpfdet-{family}");
        var runDir = Path.Combine(root, "run");
        Assert.Equal(0, Run(["train", .. Tiny, "--model", $"{family}-r18", "--loss", "hpf", "--out", runDir]));
        var (iterations, _) = TrainingLogJson.Read(Path.Combine(runDir, "log.jsonl"));
        Assert.Equal(2, iterations.Count);            // 8 images / batch 4
        // γ per pyramid level: YOLOF predicts from C5 alone, the others from five FPN levels.
        int levels = family == "yolof" ? 1 : 5;
        Assert.All(iterations, it => Assert.Equal(levels, it.Gamma.Length));
        Assert.All(iterations, it => Assert.All(it.Gamma, g => Assert.InRange(g, 1.5, 2.5)));   // γ0 ± δ
        var checkpoint = Path.Combine(runDir, "checkpoints", "last.ckpt");

        var evalJson = Path.Combine(root, "eval.json");
        Assert.Equal(0, Run(["eval", "--weights", checkpoint, "--data", "synthetic", "--json", evalJson]));
        using (var evaluation = JsonDocument.Parse(File.ReadAllText(evalJson)))
            Assert.Equal(12, evaluation.RootElement.GetProperty("stats").GetArrayLength());

        var images = Path.Combine(root, "images");
        HpfDet.Data.SyntheticShapesDataset.Generate(images, new HpfDet.Data.SyntheticShapesOptions(Count: 2, ImageSize: 64));
        var detOut = Path.Combine(root, "detections");
        Assert.Equal(0, Run(["detect", "--weights", checkpoint, "--images", Path.Combine(images, "images"), "--out", detOut, "--score", "0.0"]));
        Assert.Equal(2, Directory.GetFiles(detOut, "*.png").Length);
        using var results = JsonDocument.Parse(File.ReadAllText(Path.Combine(detOut, "results.json")));
        Assert.Equal(JsonValueKind.Array, results.RootElement.ValueKind);
    }

    [Fact]
    public void CompareSeedPlansParse()
    {
        Assert.Equal([("fl", 3), ("hpf", 3), ("qfl", 1), ("vfl", 1)], HpfDet.Cli.Commands.CompareCommand.ParsePlan("fl,hpf:3, qfl:1,vfl:1", 3));
        Assert.Throws<UserFacingException>(() => HpfDet.Cli.Commands.CompareCommand.ParsePlan("fl,focal", 3));
        Assert.Throws<UserFacingException>(() => HpfDet.Cli.Commands.CompareCommand.ParsePlan("fl:0", 3));
        Assert.Throws<UserFacingException>(() => HpfDet.Cli.Commands.CompareCommand.ParsePlan("fl,fl:2", 3));
    }

    [Fact]
    public void CompareNativeIsEachDetectorsReferenceLoss()
    {
        // The reference losses of mmdetection 2.x's configs: gfl_r50_fpn_1x (QualityFocalLoss), vfnet_r50_fpn_1x
        // (VarifocalLoss, alpha 0.75), fovea_r50_fpn_4x4_1x (FocalLoss gamma 1.5, alpha 0.4), atss/paa/yolof (FocalLoss).
        Assert.Equal(new HpfDet.Models.NativeLoss("qfl"), HpfDet.Cli.Commands.CompareCommand.ResolveLoss("native", "gfl-r18"));
        Assert.Equal(new HpfDet.Models.NativeLoss("vfl", Alpha: 0.75), HpfDet.Cli.Commands.CompareCommand.ResolveLoss("native", "vfnet-r50"));
        Assert.Equal(new HpfDet.Models.NativeLoss("fl", 1.5, 0.4), HpfDet.Cli.Commands.CompareCommand.ResolveLoss("native", "foveabox-r18"));
        foreach (var model in new[] { "atss-r18", "retinanet-r18", "fcos-r18", "paa-r18", "fsaf-r18", "yolof-r18" })
            Assert.Equal(new HpfDet.Models.NativeLoss("fl"), HpfDet.Cli.Commands.CompareCommand.ResolveLoss("native", model));
        Assert.Equal(new HpfDet.Models.NativeLoss("hpf"), HpfDet.Cli.Commands.CompareCommand.ResolveLoss("hpf", "gfl-r18"));

        Assert.Equal([("native", 1), ("hpf", 1)], HpfDet.Cli.Commands.CompareCommand.ParsePlan("native:1,hpf:1", 3));
        // native and the loss it stands for would train the same runs twice.
        var plan = HpfDet.Cli.Commands.CompareCommand.ParsePlan("native,qfl", 1);
        HpfDet.Cli.Commands.CompareCommand.CheckResolvedLosses(plan, "atss-r18");
        var e = Assert.Throws<UserFacingException>(() => HpfDet.Cli.Commands.CompareCommand.CheckResolvedLosses(plan, "gfl-r18"));
        Assert.Contains("gfl-r18", e.Message);

        // A comparison with 'native' names the run after the loss it trained, with the reference γ and α in its configuration.
        using var dir = TestPaths.NewTempDir("compare-native");
        Assert.Equal(0, Run(["compare", .. Tiny, "--models", "foveabox-r18", "--losses", "native:1", "--out", dir.Path]));
        var config = HpfDet.Training.RunConfig.Load(Path.Combine(dir.Path, "foveabox-r18-fl-seed0", "config.yaml"));
        Assert.Equal(("fl", 1.5, 0.4), (config.Loss.Name, config.Loss.Gamma, config.Loss.Alpha));
    }

    [Fact]
    public void ConfigurationMistakesGiveOneClearMessageAndADocumentedExitCode()
    {
        var (code, err) = RunCapturingErrors(["train", "--data", "synthetic", "--set", "train.lrr=0.1"]);
        Assert.Equal(ExitCodes.UserError, code);
        Assert.Contains("unknown configuration key 'train.lrr'", err);
        Assert.Contains("'train.lr'", err);
        Assert.DoesNotContain("   at ", err);   // no stack trace

        (code, err) = RunCapturingErrors(["train", "--data", "synthetic", "--set", "train.epochs=many"]);
        Assert.Equal(ExitCodes.UserError, code);
        Assert.Contains("train.epochs", err);
        Assert.Contains("integer", err);

        using var dir = TestPaths.NewTempDir();
        var yaml = Path.Combine(dir, "bad.yaml");
        File.WriteAllText(yaml, "train:\n  epochs: 2\n  bacth: 4\n");
        (code, err) = RunCapturingErrors(["train", "--config", yaml]);
        Assert.Equal(ExitCodes.UserError, code);
        Assert.Contains("line 3", err);
        Assert.Contains("'train.batch'", err);

        (code, err) = RunCapturingErrors(["train", "--data", "/nonexistent/folder", "--format", "voc"]);
        Assert.Equal(ExitCodes.UserError, code);
        Assert.Contains("/nonexistent/folder", err);

        (code, _) = RunCapturingErrors(["train", "--no-such-option"]);
        Assert.Equal(ExitCodes.UsageError, code);
    }
}
