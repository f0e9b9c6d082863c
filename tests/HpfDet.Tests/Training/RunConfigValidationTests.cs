using HpfDet.Losses;
using HpfDet.Models;
using HpfDet.Tests.Infrastructure;
using HpfDet.Training;

namespace HpfDet.Tests.Training;

/// <summary>
/// Every configuration key is checked before any work, and a problem names the key, the value, the
/// allowed range and the file line (or option) it came from. The ranges below are the documented ones.
/// </summary>
public class RunConfigValidationTests : IDisposable
{
    readonly TempDir temp = TestPaths.NewTempDir("hpfdet-config");

    public void Dispose() => temp.Dispose();

    string WriteYaml(string text)
    {
        var path = Path.Combine(temp.NewSubdir(), "config.yaml");
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>section, key, YAML value, how the value is shown, a fragment of the allowed range.</summary>
    public static TheoryData<string, string, string, string, string> BadValues => new()
    {
        { "loss", "delta", "3", "3", "below loss.gamma (2" },
        { "loss", "delta", "-1", "-1", "[0, ∞)" },
        { "loss", "gamma", ".nan", "NaN", "finite number" },
        { "loss", "gamma", "-1", "-1", "(0, 100]" },
        { "loss", "w", "-0.5", "-0.5", "(0, 100]" },
        { "loss", "w", "0", "0", "(0, 100]" },
        { "loss", "alpha", "1.5", "1.5", "[0, 1]" },
        { "loss", "beta", "-2", "-2", "[0, 100]" },
        { "model", "head_groups", "0", "0", "from 1 to 4096" },
        { "model", "head_channels", "0", "0", "from 1 to 4096" },
        { "model", "frozen_stages", "99", "99", "from -1 to 4" },
        { "model", "anchor_scale", "0", "0", "(0, 100]" },
        { "model", "anchor_scale", "-0.4", "-0.4", "(0, 100]" },
        { "train", "log_every", "0", "0", "from 1 to" },
        { "train", "lr", ".inf", "Infinity", "finite number in (0, ∞)" },
        { "train", "lr", "0", "0", "(0, ∞)" },
        { "train", "weight_decay", ".nan", "NaN", "finite number in [0, 1]" },
        { "train", "backbone_lr_mult", "-0.5", "-0.5", "[0, 100]" },
        { "train", "momentum", "1", "1", "[0, 1)" },
        { "train", "epochs", "0", "0", "from 1 to" },
        { "train", "batch", "0", "0", "from 1 to" },
        { "train", "scale", "10", "10", "from 32 to 4096" },
        { "train", "multi_scale", "[16, 512]", "[16, 512]", "from 32 to 4096" },
        { "train", "decay_epochs", "[8, 20]", "[8, 20]", "train.epochs - 1 = 11" },
        { "train", "decay_epochs", "[11, 8]", "[11, 8]", "increasing order" },
        { "train", "warmup_iters", "-1", "-1", "from 0 to" },
        { "train", "warmup_ratio", "2", "2", "[0, 1]" },
        { "train", "eval_every", "-1", "-1", "from 0 to" },
        { "train", "checkpoint_every", "-1", "-1", "from 0 to" },
        { "train", "flip", "5", "5", "[0, 1]" },
        { "train", "random_shift", "-8", "-8", "from 0 to 1024" },
        { "train", "grad_clip", "-35", "-35", "(0, ∞)" },
        { "train", "max_iters", "0", "0", "from 1 to" },
        { "test", "nms_iou", "5", "5", "(0, 1]" },
        { "test", "nms_iou", "0", "0", "(0, 1]" },
        { "test", "score_threshold", "-1", "-1", "[0, 1)" },
        { "test", "score_threshold", "1", "1", "[0, 1)" },
        { "test", "max_per_image", "-5", "-5", "from 1 to" },
        { "test", "pre_nms_top_k", "0", "0", "from 1 to" },
        { "data", "workers", "100000", "100000", "from 0 to 64" },
        { "data", "format", "pascal", "'pascal'", "voc, coco, yolo or synthetic" },
        { "data", "synthetic_size", "8", "8", "from 32 to 4096" },
        { "model", "name", "yolo-v8", "'yolo-v8'", "atss-r18, atss-r34, atss-r50, atss-r101, " },
        { "loss", "name", "focal", "'focal'", "hpf, fl, qfl or vfl" },
        { "loss", "scope", "levels", "'levels'", "per_level or all_levels" },
    };

    [Theory]
    [MemberData(nameof(BadValues))]
    public void AnOutOfRangeValueNamesItsKeyValueRangeAndLine(string section, string key, string value, string shown, string range)
    {
        // Line 1 is a comment, so the key sits on line 3.
        var path = WriteYaml($"# a run\n{section}:\n  {key}: {value}\n");
        var config = RunConfig.Load(path);
        var e = Assert.Throws<HpfDetException>(() => config.Validate());
        Assert.Contains($"'{section}.{key}' is {shown}", e.Message);
        Assert.Contains($"{path}, line 3", e.Message);
        Assert.Contains(range, e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void AnchorScaleScalesTheAnchorsOfAnchorDetectorsAndIsRefusedForPointDetectors()
    {
        var config = new RunConfig();
        config.Model.Name = "retinanet-r18";
        config.Model.Pretrained = false;
        config.Model.AnchorScale = 0.4;
        config.Validate();
        using var model = (HpfDet.Models.RetinaNetDetector)config.BuildDetector(3, loadPretrained: false);
        // torchvision's smallest P3 anchor side, 32, × 0.4.
        Assert.Equal(12.8, model.AnchorGenerator.Options.Sizes![0][0], 9);
        config.Model.Name = "fcos-r18";
        var e = Assert.Throws<HpfDetException>(() => config.Validate());
        Assert.Contains("'model.anchor_scale'", e.Message);
        Assert.Contains("no anchors", e.Message);
    }

    [Fact]
    public void EveryProblemIsListedAtOnce()
    {
        var path = WriteYaml("model:\n  head_groups: 0\ntrain:\n  log_every: 0\ntest:\n  nms_iou: 5\n");
        var e = Assert.Throws<HpfDetException>(() => RunConfig.Load(path).Validate());
        Assert.Contains("3 problems", e.Message);
        Assert.Contains($"'model.head_groups' is 0 ({path}, line 2)", e.Message);
        Assert.Contains($"'train.log_every' is 0 ({path}, line 4)", e.Message);
        Assert.Contains($"'test.nms_iou' is 5 ({path}, line 6)", e.Message);
    }

    [Fact]
    public void AValueSetOnTheCommandLineNamesThatOption()
    {
        var config = new RunConfig();
        config.Set("loss.gamma", "0.4", "--set loss.gamma=0.4");
        var e = Assert.Throws<HpfDetException>(() => config.Validate());
        // δ = 0.5 (the default) is not below γ0 = 0.4.
        Assert.Contains("'loss.delta' is 0.5 (default)", e.Message);
        Assert.Contains("below loss.gamma (0.4, --set loss.gamma=0.4)", e.Message);
    }

    [Fact]
    public void TheDefaultsAndEveryNamedLossAndDetectorAreValid()
    {
        new RunConfig().Validate();
        foreach (var loss in new[] { "fl", "hpf", "qfl", "vfl" })
        {
            var config = new RunConfig();
            config.Set("loss.name", loss);
            config.Validate();
            Assert.Equal(loss, config.BuildLoss().Name);
        }
        Assert.Equal(["fl", "hpf", "qfl", "vfl"], LossNames.All.Order());
        Assert.Contains("atss-r18", DetectorRegistry.Names);
        Assert.Equal(DetectorRegistry.Families.Count * 4, DetectorRegistry.Names.Count);
        foreach (var model in DetectorRegistry.Names)
        {
            var config = new RunConfig();
            config.Set("model.name", model);
            config.Set("model.pretrained", "false");
            config.Validate();
        }
    }

    [Theory]
    [InlineData("atss-r34", "resnet34")]
    [InlineData("atss-r50", "resnet50")]
    [InlineData("atss-r101", "resnet101")]
    public void APretrainedDeepBackboneWithoutWeightsNamesTheWeightsToSupply(string model, string weights)
    {
        var config = new RunConfig();
        config.Set("model.name", model, "--model");
        var e = Assert.Throws<HpfDetException>(() => config.Validate());
        Assert.Contains("model.backbone_weights", e.Message);
        Assert.Contains(weights, e.Message);
        Assert.Contains("model.pretrained=false", e.Message);
        // Building the detector refuses it too (it used to train from a random backbone).
        Assert.Throws<HpfDetException>(() => config.BuildDetector(3));
        config.Set("model.backbone_weights", "/nonexistent/resnet.pth");
        var missing = Assert.Throws<HpfDetException>(() => config.Validate());
        Assert.Contains("/nonexistent/resnet.pth", missing.Message);
        // A checkpoint's model does not need the weights file: its weights come from the checkpoint.
        config.Validate(loadingPretrainedWeights: false);
    }

    [Theory]
    [InlineData("- 1\n- 2\n", "line 1", "not a list")]
    [InlineData("train: [1, 2]\n", "line 1", "section 'train' must be a mapping")]
    [InlineData("train: 5\n", "line 1", "section 'train' must be a mapping")]
    [InlineData("train:\n  ? [a, b]\n  : 1\n", "line 2", "expected a key of section 'train'")]
    [InlineData("? [a]\n: 1\n", "line 1", "expected a section name")]
    [InlineData("train:\n  multi_scale: [[1, 2], 3]\n", "line 2", "flat list")]
    [InlineData("train:\n  lr: {a: 1}\n", "line 2", "not a mapping")]
    [InlineData("trian:\n  lr: 1\n", "line 1", "Did you mean 'train'")]
    [InlineData("train:\n  lr: 1\n  lr: 2\n", "", "Duplicate key")]
    [InlineData("train:\n  lr: [1\n", "line", "malformed YAML")]
    [InlineData("train:\n  max_iters: {\ndata:\n  workers: 3\n", "line", "malformed YAML")]
    [InlineData("train:\n  epochs: 1.5\n", "line 2", "integer")]
    [InlineData("train:\n  photometric: maybe\n", "line 2", "true or false")]
    public void AMalformedStructureIsAClearErrorNotAnInvalidCast(string yaml, string line, string expected)
    {
        var path = WriteYaml(yaml);
        var e = Assert.Throws<HpfDetException>(() => RunConfig.Load(path));
        Assert.Contains(expected, e.Message);
        Assert.Contains($"{path}", e.Message);
        Assert.Contains(line, e.Message);
    }

    [Fact]
    public void NestedAliasesAreRefusedWithoutExpandingThem()
    {
        // 9 levels of 9 aliases each: 9^9 ≈ 387 million scalars if expanded, in about 300 bytes.
        var lines = new List<string> { "a: &a [x,x,x,x,x,x,x,x,x]" };
        for (char c = 'b'; c <= 'i'; c++) lines.Add($"{c}: &{c} [{string.Join(",", Enumerable.Repeat($"*{(char)(c - 1)}", 9))}]");
        lines.Add("train: *i");
        var text = string.Join("\n", lines) + "\n";
        Assert.InRange(text.Length, 200, 400);
        var path = WriteYaml(text);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<HpfDetException>(() => RunConfig.Load(path));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains("line 1", e.Message);
        Assert.Contains("not supported", e.Message);
        Assert.True(allocated < 20_000_000, $"allocated {allocated} bytes");
    }

    [Fact]
    public void AnAliasInsideASectionIsRefusedToo()
    {
        var path = WriteYaml("train:\n  scale: &s 320\n  max_size: *s\n");
        var e = Assert.Throws<HpfDetException>(() => RunConfig.Load(path));
        Assert.Contains("line 2", e.Message);
    }

    [Fact]
    public void AHugeFileIsRefusedBeforeParsing()
    {
        var path = WriteYaml("# " + new string('x', (int)RunConfig.MaxFileBytes) + "\n");
        var e = Assert.Throws<HpfDetException>(() => RunConfig.Load(path));
        Assert.Contains("larger than", e.Message);
    }

    [Fact]
    public void ARunsOwnConfigYamlLoadsBackAndValidates()
    {
        // config.yaml is written by the serializer: it must not use the anchors that loading refuses.
        var preset = HpfDet.Cli.Commands.DemoCommand.Preset();
        var path = WriteYaml(preset.ToYaml());
        var loaded = RunConfig.Load(path);
        loaded.Validate();
        Assert.Equal(preset.ToYaml(), loaded.ToYaml());
        Assert.Equal([6], loaded.Train.DecayEpochs!);
        Assert.Equal(16, loaded.Model.HeadGroups);
        Assert.Equal($"{path}, line {File.ReadAllLines(path).ToList().FindIndex(l => l.TrimStart().StartsWith("head_groups:", StringComparison.Ordinal)) + 1}", loaded.OriginOf("model.head_groups"));
    }

    [Fact]
    public void TheKeysAreThoseOfTheFiveSectionsOnly()
    {
        // Static members (the key list itself, the name lists) are not settable keys.
        Assert.All(RunConfig.Keys, k => Assert.Contains(k.Split('.')[0], new[] { "data", "model", "loss", "train", "test" }));
        Assert.Contains("train.lr", RunConfig.Keys);
        Assert.Contains("unknown configuration key 'keys.count'", Assert.Throws<HpfDetException>(() => new RunConfig().Set("keys.count", "3")).Message);
    }

    [Theory]
    [InlineData("{\"data\": null}", "corrupt")]
    [InlineData("{\"train\": {\"lr\": \"fast\"}}", "corrupt")]
    [InlineData("{\"train\": [1]}", "corrupt")]
    public void ACheckpointsUnreadableConfigurationIsAClearError(string json, string expected)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(json)!.AsObject();
        Assert.Contains(expected, Assert.Throws<HpfDetException>(() => RunConfig.FromJson(node)).Message);
    }

    [Fact]
    public void ACheckpointsConfigurationIsValidatedWithItsOrigin()
    {
        var config = RunConfig.FromJson(System.Text.Json.Nodes.JsonNode.Parse("{\"model\": {\"name\": null, \"head_groups\": 0}}")!.AsObject());
        var e = Assert.Throws<HpfDetException>(() => config.Validate(loadingPretrainedWeights: false));
        Assert.Contains("'model.name' is null (the checkpoint's configuration)", e.Message);
        Assert.Contains("'model.head_groups' is 0", e.Message);
    }

    [Fact]
    public void EmptyFilesAndSectionsKeepTheDefaults()
    {
        Assert.Equal(0.01, RunConfig.Load(WriteYaml("")).Train.Lr);
        Assert.Equal(0.01, RunConfig.Load(WriteYaml("train:\n")).Train.Lr);
        Assert.Equal(0.02, RunConfig.Load(WriteYaml("train:\n  lr: 0.02\n")).Train.Lr);
    }

    [Fact]
    public void AFolderOrASymlinkLoopAsTheConfigurationIsAClearError()
    {
        using var dir = TestPaths.NewTempDir("hpfdet-config");
        Assert.Contains("is a folder", Assert.Throws<HpfDetException>(() => RunConfig.Load(dir)).Message);
        var loop = Path.Combine(dir, "loop.yaml");
        File.CreateSymbolicLink(loop, loop);
        Assert.Contains(loop, Assert.Throws<HpfDetException>(() => RunConfig.Load(loop)).Message);
    }
}
