using System.Text;
using HpfDet.Cli;
using HpfDet.Data;
using HpfDet.Tests.Infrastructure;
using HpfDet.Training;

namespace HpfDet.Tests.Cli;

/// <summary>
/// Bad configuration, paths and checkpoints given to the tool: exit 3 (or 2 for the command line) with one
/// line naming the key or path and what to do, before any dataset is read; never exit 1 or a stack trace.
/// </summary>
[Collection(ConsoleCollection.Name)]
public class CliBadInputTests
{
    static readonly string[] Tiny = CliEndToEndTests.Tiny;

    /// <summary>Exit code 3 and one error line holding every fragment, without a stack trace.</summary>
    static string AssertUserError((int Code, string Out, string Err) run, params string[] fragments)
    {
        Assert.True(run.Code == ExitCodes.UserError, $"exit {run.Code}: {run.Err}");
        var lines = CliHarness.Lines(run.Err);
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        Assert.DoesNotContain("   at ", run.Err);
        foreach (var f in fragments) Assert.Contains(f, lines[0]);
        return lines[0];
    }

    [Fact]
    public void LogEveryZeroIsRefusedBeforeTraining()
    {
        using var root = TestPaths.NewTempDir("hpfdet-cli");
        AssertUserError(CliHarness.Run(["train", .. Tiny, "--set", "train.log_every=0", "--out", Path.Combine(root, "run")]),
            "'train.log_every' is 0", "--set train.log_every=0", "from 1 to");
        Assert.False(Directory.Exists(Path.Combine(root, "run")), "nothing is written for a refused configuration");
    }

    [Fact]
    public void TheConfigurationIsCheckedBeforeTheDatasetIsLookedFor()
    {
        using var dir = TestPaths.NewTempDir("hpfdet-cli");
        var yaml = Path.Combine(dir, "run.yaml");
        File.WriteAllText(yaml, "data:\n  format: voc\n  path: /nonexistent/voc\nmodel:\n  head_groups: 0\nloss:\n  gamma: .nan\n");
        var line = AssertUserError(CliHarness.Run(["train", "--config", yaml]), $"{yaml}, line 5", "'model.head_groups' is 0", "'loss.gamma' is NaN", $"{yaml}, line 7");
        Assert.DoesNotContain("/nonexistent/voc", line);
    }

    [Fact]
    public void ADeepBackboneWithoutWeightsNamesTheWeightsToSupply()
    {
        AssertUserError(CliHarness.Run(["train", "--data", "synthetic", "--model", "atss-r50"]), "model.backbone_weights", "resnet50", "--model");
        var (code, _, _) = CliHarness.Run(["train", "--data", "synthetic", "--model", "atss-r51"]);
        Assert.Equal(ExitCodes.UsageError, code);
    }

    [Fact]
    public void HelpNamesTheToolAsUsersTypeIt()
    {
        var (code, output, _) = CliHarness.Run(["train", "--help"]);
        Assert.Equal(0, code);
        Assert.Contains("hpfdet train [options]", output);
        Assert.DoesNotContain("HpfDet.Cli", output);
        foreach (var name in new[] { "hpf", "fl", "qfl", "vfl", "atss-r18", "atss-r34", "atss-r50", "atss-r101" }) Assert.Contains(name, output);
    }

    [Theory]
    [InlineData("demo")]
    [InlineData("train")]
    [InlineData("eval")]
    [InlineData("detect")]
    [InlineData("export")]
    [InlineData("compare")]
    [InlineData("study")]
    [InlineData("info")]
    public void HelpKeepsTheOptionColumnNarrow(string command)
    {
        var (code, output, _) = CliHarness.Run([command, "--help"]);
        Assert.Equal(0, code);
        // An option line is "  --name <value>  description"; the description starts after the first run of 2+ spaces.
        var optionLines = output.Split('\n').Where(l => l.StartsWith("  -", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(optionLines);
        foreach (var line in optionLines)
        {
            int gap = line.IndexOf("  ", 2, StringComparison.Ordinal);
            int nameWidth = gap < 0 ? line.TrimEnd().Length : gap;
            Assert.True(nameWidth <= 40, $"'{command} --help' option column is {nameWidth} characters wide: {line.Trim()[..Math.Min(80, line.Trim().Length)]}");
        }
    }

    /// <summary>An untrained tiny detector saved as a checkpoint (no training: the weights do not matter here).</summary>
    internal static string UntrainedCheckpoint(string dir, params (string Key, string Value)[] settings)
    {
        var config = new RunConfig();
        foreach (var (key, value) in new[] { ("model.pretrained", "false"), ("model.fpn_channels", "32"), ("model.head_channels", "32"), ("model.head_convs", "1"),
                     ("model.head_groups", "8"), ("train.scale", "64"), ("train.max_size", "64"), ("data.workers", "0") }.Concat(settings))
            config.Set(key, value);
        using var model = config.BuildDetector(2, loadPretrained: false);
        var path = Path.Combine(dir, "checkpoints", "last.ckpt");
        Checkpoint.Save(path, new CheckpointInfo(1, 0, 1, ["circle", "square"], config.ToJson()), model, null);
        return path;
    }

    static byte[] NoisyImage(int seed, Func<ImageBuffer, byte[]> encode)
    {
        var random = new Random(seed);
        var pixels = new byte[48 * 40 * 4];
        random.NextBytes(pixels);
        return encode(new ImageBuffer(48, 40, pixels));
    }

    [Fact]
    public void WrongKindsOfPathsAreUserErrorsNamingThePath()
    {
        using var root = TestPaths.NewTempDir("hpfdet-cli");
        var file = Path.Combine(root, "file.txt");
        File.WriteAllText(file, "not a folder");
        var folder = Path.Combine(root, "folder");
        Directory.CreateDirectory(folder);
        var loop = Path.Combine(root, "loop.yaml");
        File.CreateSymbolicLink(loop, loop);
        var checkpoint = UntrainedCheckpoint(Path.Combine(root, "run"));
        var images = Path.Combine(root, "images");
        Directory.CreateDirectory(images);
        File.WriteAllBytes(Path.Combine(images, "a.png"), NoisyImage(1, ImageDecoder.EncodePng));

        AssertUserError(CliHarness.Run(["train", "--config", folder]), folder);
        AssertUserError(CliHarness.Run(["train", "--config", loop]), loop);
        AssertUserError(CliHarness.Run(["train", .. Tiny, "--out", file]), file, "is a file");
        AssertUserError(CliHarness.Run(["train", .. Tiny, "--out", Path.Combine(file, "run")]), file);
        AssertUserError(CliHarness.Run(["compare", .. Tiny, "--out", file]), file);
        AssertUserError(CliHarness.Run(["detect", "--weights", checkpoint, "--images", images, "--out", file]), file, "is a file");
        AssertUserError(CliHarness.Run(["detect", "--weights", folder, "--images", images, "--out", Path.Combine(root, "det")]), folder, "is a folder");
        AssertUserError(CliHarness.Run(["eval", "--weights", folder, "--data", "synthetic"]), folder);
        AssertUserError(CliHarness.Run(["eval", "--gt", folder, "--results", file]), folder);
        AssertUserError(CliHarness.Run(["info", "--data", loop, "--format", "coco"]), loop);
    }

    [NotRootFact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void FilesWithoutPermissionAreUserErrors()
    {
        using var root = TestPaths.NewTempDir("hpfdet-cli");
        var yaml = Path.Combine(root, "locked.yaml");
        File.WriteAllText(yaml, "train:\n  lr: 0.01\n");
        File.SetUnixFileMode(yaml, UnixFileMode.None);
        AssertUserError(CliHarness.Run(["train", "--config", yaml]), yaml);
        var locked = Path.Combine(root, "locked");
        Directory.CreateDirectory(locked);
        File.SetUnixFileMode(locked, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        AssertUserError(CliHarness.Run(["train", .. Tiny, "--out", Path.Combine(locked, "run")]), locked);
    }

    [Fact]
    public void ACorruptCheckpointIsAUserErrorForEveryCommandThatReadsOne()
    {
        using var root = TestPaths.NewTempDir("hpfdet-cli");
        var checkpoint = UntrainedCheckpoint(Path.Combine(root, "run"));
        var bytes = File.ReadAllBytes(checkpoint);
        // The first tensor's first dimension sits after magic (8), version (4), the header string and the
        // tensor count (4), the name string, dtype (4) and dims (4): set it to -1.
        using (var r = new BinaryReader(new MemoryStream(bytes), Encoding.UTF8))
        {
            r.ReadBytes(12);
            r.ReadString();
            r.ReadInt32();
            r.ReadString();
            r.ReadInt32();
            Assert.True(r.ReadInt32() > 0);
            BitConverter.GetBytes(-1L).CopyTo(bytes, (int)r.BaseStream.Position);
        }
        File.WriteAllBytes(checkpoint, bytes);
        var images = Path.Combine(root, "images");
        Directory.CreateDirectory(images);
        File.WriteAllBytes(Path.Combine(images, "a.png"), NoisyImage(1, ImageDecoder.EncodePng));
        AssertUserError(CliHarness.Run(["detect", "--weights", checkpoint, "--images", images, "--out", Path.Combine(root, "det")]), checkpoint, "dimension -1");
        AssertUserError(CliHarness.Run(["eval", "--weights", checkpoint, "--data", "synthetic"]), checkpoint, "dimension -1");

        // A header that is not JSON: resuming names the file (it reads the header only).
        var header = Path.Combine(root, "run2", "checkpoints", "last.ckpt");
        Directory.CreateDirectory(Path.GetDirectoryName(header)!);
        using (var w = new BinaryWriter(File.Create(header), Encoding.UTF8))
        {
            w.Write(Encoding.ASCII.GetBytes("HPFDETCK"));
            w.Write(1);
            w.Write("{\"epoch\": tru");
        }
        AssertUserError(CliHarness.Run(["train", "--resume", Path.Combine(root, "run2")]), header, "corrupt");
    }

    [Fact]
    public void DetectSkipsUndecodableImagesWithACountAndKeepsDrawingsOfOneNameApart()
    {
        using var root = TestPaths.NewTempDir("hpfdet-cli");
        var checkpoint = UntrainedCheckpoint(Path.Combine(root, "run"));
        var images = Path.Combine(root, "images");
        Directory.CreateDirectory(images);
        var png = NoisyImage(2, ImageDecoder.EncodePng);
        File.WriteAllBytes(Path.Combine(images, "a.png"), png);
        File.WriteAllBytes(Path.Combine(images, "a.jpg"), NoisyImage(3, i => ImageDecoder.Encode(i, SkiaSharp.SKEncodedImageFormat.Jpeg, 90)));
        File.WriteAllBytes(Path.Combine(images, "cut.png"), png[..(png.Length / 2)]);   // the header reads, the pixels do not
        File.WriteAllBytes(Path.Combine(images, "empty.png"), []);
        var output = Path.Combine(root, "det");

        var (code, stdout, stderr) = CliHarness.Run(["detect", "--weights", checkpoint, "--images", images, "--out", output, "--score", "0"]);
        Assert.True(code == 0, $"exit {code}: {stderr}");
        Assert.Contains("wrote 2 images", stdout);
        Assert.Contains("skipped 2 image(s)", stdout);
        Assert.Contains("cut.png", stdout);
        Assert.Contains("empty.png", stdout);
        var drawings = Directory.GetFiles(output, "*.png").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(new[] { "a.png", "a_png.png" }, drawings);
        Assert.Equal(2, File.ReadAllLines(Path.Combine(output, "image_ids.txt")).Length);
    }

    [Fact]
    public void DrawingValidationPicturesSkipsAnImageTheLoaderSkipped()
    {
        using var root = TestPaths.NewTempDir("hpfdet-cli");
        var good = Path.Combine(root, "good.png");
        var png = NoisyImage(4, ImageDecoder.EncodePng);
        File.WriteAllBytes(good, png);
        var cut = Path.Combine(root, "cut.png");
        File.WriteAllBytes(cut, png[..(png.Length / 2)]);
        var dataset = new DetectionDataset("val", ["circle", "square"],
            [new DetectionSample(1, good, "good.png", 48, 40, [new BoxAnnotation(2, 2, 20, 20, 0)]),
             new DetectionSample(2, cut, "cut.png", 48, 40, [new BoxAnnotation(4, 4, 30, 30, 1)])], new DataIssues());
        var config = RunConfig.FromJson(Checkpoint.ReadInfo(UntrainedCheckpoint(Path.Combine(root, "run"))).Config);
        using var model = config.BuildDetector(2, loadPretrained: false);
        var loader = new DataLoader(dataset, config.TestTransforms(), config.InputNormalization(), new DataLoaderOptions(2, 0, Shuffle: false));
        var result = DetectionEvaluation.Run(model, dataset, loader);
        var drawn = Path.Combine(root, "detections");
        Assert.Equal(1, TrainPipeline.DrawValidationDetections(dataset, result, drawn));
        Assert.Equal(new[] { "good.png" }, Directory.GetFiles(drawn).Select(f => Path.GetFileName(f)).ToArray());
    }
}
