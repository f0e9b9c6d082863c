using HpfDet.Cli;
using HpfDet.Tests.Infrastructure;
using HpfDet.Training;

namespace HpfDet.Tests.Cli;

/// <summary>
/// How runs end and continue: divergence (exit 4, last good checkpoint kept) and compare's notion of a
/// finished run. Each trains at most a couple of iterations of a tiny model, so neither depends on
/// training converging.
/// </summary>
[Collection(ConsoleCollection.Name)]
public class CliRunStateTests
{
    /// <summary>Two images in batches of two: one iteration per epoch.</summary>
    static readonly string[] OneIterationPerEpoch =
    [
        "--data", "synthetic", "--batch", "2", "--scale", "64",
        "--set", "model.pretrained=false", "--set", "model.fpn_channels=32", "--set", "model.head_channels=32",
        "--set", "model.head_convs=1", "--set", "model.head_groups=8", "--set", "data.synthetic_count=2",
        "--set", "data.synthetic_val_count=2", "--set", "data.synthetic_size=64", "--set", "train.max_size=64",
        "--set", "train.warmup_iters=0", "--set", "data.workers=0",
    ];

    [Fact]
    public void ADivergingRunExitsWithCode4AndKeepsTheLastGoodCheckpoint()
    {
        using var dir = TestPaths.NewTempDir("hpfdet-cli");
        var run = Path.Combine(dir, "run");
        // lr 1e6 from the first step: the first update sends the weights to non-finite values.
        var (code, _, err) = CliHarness.Run(["train", .. OneIterationPerEpoch, "--epochs", "3", "--lr", "1e6", "--out", run]);
        Assert.True(code == ExitCodes.NonFiniteLoss, $"exit {code}: {err}");
        var line = Assert.Single(CliHarness.Lines(err));
        Assert.Contains("non-finite", line);
        var checkpoint = Path.Combine(run, "checkpoints", "last.ckpt");
        Assert.Contains(checkpoint, line);
        // The checkpoint written after epoch 1 (iteration 1) is kept and reads.
        Assert.Equal(1, Checkpoint.ReadInfo(checkpoint).Iteration);
        Assert.False(File.Exists(Path.Combine(run, TrainPipeline.CompletedMarker)));
    }

    [Fact]
    public void CompareContinuesAnInterruptedRunThatLeftAFinalEvaluation()
    {
        using var root = TestPaths.NewTempDir("hpfdet-cli");
        string[] args = ["compare", .. OneIterationPerEpoch, "--epochs", "1", "--losses", "fl", "--seeds", "1", "--out", root];
        var runDir = Path.Combine(root, "fl-seed0");

        // An interrupted run: Ctrl+C before the first step writes a checkpoint; an earlier evaluation
        // left eval/final.json behind (an unreadable one here, so reporting it would fail).
        var config = new RunConfig();
        for (int i = 0; i + 1 < OneIterationPerEpoch.Length; i += 2)
            if (OneIterationPerEpoch[i] == "--set") config.Set(OneIterationPerEpoch[i + 1].Split('=')[0], OneIterationPerEpoch[i + 1].Split('=')[1]);
        config.Set("loss.name", "fl");
        config.Set("train.epochs", "1");
        config.Set("train.batch", "2");
        config.Set("train.scale", "64");
        using (var cancelled = new CancellationTokenSource())
        {
            cancelled.Cancel();
            var (previous, quiet) = (Console.Out, new StringWriter());
            Console.SetOut(quiet);
            try { Assert.Equal(TrainingOutcome.Interrupted, TrainPipeline.Run(config, runDir, resume: false, "fl/s0", cancelled.Token).Outcome); }
            finally { Console.SetOut(previous); }
        }
        File.WriteAllText(Path.Combine(runDir, "eval", "final.json"), "{}");
        Assert.False(TrainPipeline.IsCompleted(runDir));

        var (code, output, err) = CliHarness.Run(args);
        Assert.True(code == 0, $"exit {code}: {err}");
        Assert.Contains("resuming fl seed 0", output);
        Assert.DoesNotContain("already done", output);
        Assert.True(TrainPipeline.IsCompleted(runDir));

        (code, output, err) = CliHarness.Run(args);
        Assert.True(code == 0, $"exit {code}: {err}");
        Assert.Contains("fl seed 0 already done", output);
    }

    [Fact]
    public void CompareReportOnlyReportsTheCompletedRunsAndTrainsNothing()
    {
        using var root = TestPaths.NewTempDir("hpfdet-cli");
        string[] common = ["compare", .. OneIterationPerEpoch, "--epochs", "1", "--out", root];
        var (code, _, err) = CliHarness.Run([.. common, "--losses", "fl:1"]);
        Assert.True(code == 0, $"exit {code}: {err}");
        File.Delete(Path.Combine(root, "summary.json"));

        // The plan names a second loss that never trained: reported as missing, not trained.
        (code, var output, err) = CliHarness.Run([.. common, "--losses", "fl:1,hpf:1", "--report-only"]);
        Assert.True(code == 0, $"exit {code}: {err}");
        Assert.Contains("hpf seed 0 not completed", output);
        Assert.False(Directory.Exists(Path.Combine(root, "hpf-seed0")));
        using var summary = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(root, "summary.json")));
        Assert.Equal(["fl"], summary.RootElement.GetProperty("groups").EnumerateArray().Select(g => g.GetProperty("name").GetString()));

        // Nothing completed: a user error that says so.
        (code, _, err) = CliHarness.Run([.. common, "--losses", "hpf:1", "--report-only"]);
        Assert.Equal(ExitCodes.UserError, code);
        Assert.Contains("none of the 1 planned runs is completed", err);
    }
}
