using HpfDet.Cli;
using HpfDet.Tests.Infrastructure;
using HpfDet.Tests.Visualization;
using SkiaSharp;

namespace HpfDet.Tests.Cli;

/// <summary>hpfdet study on hand-made comparison folders: the tables, the charts and the refusals.</summary>
[Collection(ConsoleCollection.Name)]
public class StudyCommandTests
{
    /// <summary>
    /// cell 1x: fl and hpf seeds 0-2 evaluated after epochs 1 and 2 (final AP fl 0.30, 0.40, 0.50; hpf 0.31, 0.43, 0.52);
    /// cell 2x: fl and hpf seeds 0-1 over 4 epochs (final AP fl 0.50, 0.60; hpf 0.55, 0.61), and hpf seed 2 still training.
    /// hpf runs carry a log.jsonl.
    /// </summary>
    static (string OneX, string TwoX) MakeCells(string root)
    {
        var oneX = Path.Combine(root, "1x");
        double[][] fl = [[0.10, 0.30], [0.20, 0.40], [0.30, 0.50]];
        double[][] hpf = [[0.11, 0.31], [0.23, 0.43], [0.32, 0.52]];
        for (var seed = 0; seed < 3; seed++)
        {
            FabricatedRuns.Write(oneX, "fl", seed, new Dictionary<int, double> { [1] = fl[seed][0], [2] = fl[seed][1] });
            FabricatedRuns.Write(oneX, "hpf", seed, new Dictionary<int, double> { [1] = hpf[seed][0], [2] = hpf[seed][1] }, withLog: true);
        }
        var twoX = Path.Combine(root, "2x");
        static Dictionary<int, double> Ramp(double final) => Enumerable.Range(1, 4).ToDictionary(e => e, e => final * e / 4);
        FabricatedRuns.Write(twoX, "fl", 0, Ramp(0.50));
        FabricatedRuns.Write(twoX, "fl", 1, Ramp(0.60));
        FabricatedRuns.Write(twoX, "hpf", 0, Ramp(0.55), withLog: true);
        FabricatedRuns.Write(twoX, "hpf", 1, Ramp(0.61), withLog: true);
        FabricatedRuns.Write(twoX, "hpf", 2, new Dictionary<int, double> { [1] = 0.9 }, completed: false, withLog: true);
        return (oneX, twoX);
    }

    [Fact]
    public void Study_writes_the_tables_and_the_charts()
    {
        using var root = TestPaths.NewTempDir("hpfdet-study");
        var (oneX, twoX) = MakeCells(root);
        var outDir = Path.Combine(root, "study");
        var (code, output, err) = CliHarness.Run("study", "--cell", $"1x={oneX}", "--cell", $"2x={twoX}", "--pair", "hpf@2x-fl@1x", "--out", outDir, "--title", "Schedules");
        Assert.True(code == ExitCodes.Success, err);
        var md = File.ReadAllText(Path.Combine(outDir, "study.md"));
        Assert.Contains(md, output);
        Assert.StartsWith("# Schedules", md);

        // Runs counted per cell: the unfinished hpf seed 2 of 2x is left out.
        Assert.Contains($"| 1x | `{oneX}` | 6 of 6 | fl: 0, 1, 2; hpf: 0, 1, 2 |", md);
        Assert.Contains($"| 2x | `{twoX}` | 4 of 5 | fl: 0, 1; hpf: 0, 1 |", md);

        // Final AP, AP50 (= AP + 0.2), AP75 (= AP + 0.05): 1x fl 0.3, 0.4, 0.5 → 0.400 ± 0.100; hpf 0.31, 0.43, 0.52
        // → 0.420 ± 0.105 (deviations -0.11, 0.01, 0.10); 2x fl 0.5, 0.6 → 0.550 ± 0.071; hpf 0.55, 0.61 → 0.580 ± 0.042.
        Assert.Contains("| 1x | fl | 3 | 0.400 ± 0.100 | 0.600 ± 0.100 | 0.450 ± 0.100 |", md);
        Assert.Contains("| 1x | hpf | 3 | 0.420 ± 0.105 | 0.620 ± 0.105 | 0.470 ± 0.105 |", md);
        Assert.Contains("| 2x | fl | 2 | 0.550 ± 0.071 | 0.750 ± 0.071 | 0.600 ± 0.071 |", md);
        Assert.Contains("| 2x | hpf | 2 | 0.580 ± 0.042 |", md);

        // Paired within a cell, hpf − fl: 1x 0.01, 0.03, 0.02 → t 3.46, p 0.0742; 2x 0.05, 0.01 → mean 0.03,
        // sd 0.04/√2 = 0.0283, t = 0.03 / 0.02 = 1.5, p (1 df) = 1 − (2/π) atan(1.5) = 0.3743.
        Assert.Contains("| 1x | hpf − fl | AP | 3 | +0.020 | 0.010 | 3.46 | 0.0742 |", md);
        Assert.Contains("| 2x | hpf − fl | AP | 2 | +0.030 | 0.028 | 1.50 | 0.3743 |", md);

        // Across cells, hpf@2x − fl@1x on the shared seeds 0, 1: 0.55 − 0.30 = 0.25, 0.61 − 0.40 = 0.21 → mean 0.23,
        // sd 0.028, t 11.5, p 0.0552 (PairedDifferenceTests); the pairing is said to be by seed across schedules.
        Assert.Contains("| hpf@2x − fl@1x | 0, 1 | AP | 2 | +0.230 | 0.028 | 11.50 | 0.0552 |", md);
        Assert.Contains("paired by seed across different cells (different schedules", md);

        // AP per epoch of 2x: fl 0.5·e/4 and 0.6·e/4 → epoch 2: 0.25, 0.30 → 0.275 ± 0.035.
        Assert.Contains("### 2x", md);
        Assert.Contains("| 2 | 0.275 ± 0.035 | 0.290 ± 0.021 |", md);
        Assert.Contains("| 1 | 0.200 ± 0.100 | 0.220 ± 0.105 |", md);

        foreach (var (chart, width) in new[] { ("ap_by_epoch_panels.png", 1000), ("gamma_by_progress.png", 1000) })
        {
            Assert.Contains($"]({chart})", md);
            using var bitmap = SKBitmap.Decode(Path.Combine(outDir, chart));
            Assert.NotNull(bitmap);
            Assert.Equal((width, 560), (bitmap.Width, bitmap.Height));
        }
    }

    [Fact]
    public void Panels_widen_with_the_cells()
    {
        using var root = TestPaths.NewTempDir("hpfdet-study");
        var (oneX, twoX) = MakeCells(root);
        var outDir = Path.Combine(root, "study");
        var (code, _, err) = CliHarness.Run("study", "--cell", $"a={oneX}", "--cell", $"b={twoX}", "--cell", $"c={oneX}", "--out", outDir);
        Assert.True(code == ExitCodes.Success, err);
        using var bitmap = SKBitmap.Decode(Path.Combine(outDir, "ap_by_epoch_panels.png"));
        Assert.Equal(3 * 480, bitmap.Width);
        Assert.DoesNotContain("## Pairings across cells", File.ReadAllText(Path.Combine(outDir, "study.md")));
    }

    /// <summary>Exit 3 and one error line holding every fragment, without a stack trace.</summary>
    static void AssertUserError((int Code, string Out, string Err) run, params string[] fragments)
    {
        Assert.True(run.Code == ExitCodes.UserError, $"exit {run.Code}: {run.Err}");
        var lines = CliHarness.Lines(run.Err);
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        foreach (var f in fragments) Assert.Contains(f, lines[0]);
    }

    [Fact]
    public void Bad_cells_and_pairs_are_refused_with_what_is_wrong()
    {
        using var root = TestPaths.NewTempDir("hpfdet-study");
        var (oneX, twoX) = MakeCells(root);
        var outDir = Path.Combine(root, "study");
        var missing = Path.Combine(root, "nope");
        AssertUserError(CliHarness.Run("study", "--cell", $"1x={missing}", "--out", outDir), "--cell 1x", missing, "not found");

        var empty = Path.Combine(root, "empty");
        Directory.CreateDirectory(empty);
        AssertUserError(CliHarness.Run("study", "--cell", $"1x={oneX}", "--cell", $"e={empty}", "--out", outDir), "--cell e", empty, "no run folder");

        var unfinished = Path.Combine(root, "unfinished");
        FabricatedRuns.Write(unfinished, "hpf", 0, new Dictionary<int, double> { [1] = 0.2 }, completed: false);
        AssertUserError(CliHarness.Run("study", "--cell", $"u={unfinished}", "--out", outDir), "--cell u", unfinished, "none of its 1 run folders has finished");

        AssertUserError(CliHarness.Run("study", "--cell", oneX, "--out", outDir), "NAME=COMPARE_DIR");
        AssertUserError(CliHarness.Run("study", "--cell", $"1x={oneX}", "--cell", $"1x={twoX}", "--out", outDir), "'1x' is given 2 times");

        string[] cells = ["--cell", $"1x={oneX}", "--cell", $"2x={twoX}", "--out", outDir];
        AssertUserError(CliHarness.Run(["study", .. cells, "--pair", "hpf-fl"]), "--pair 'hpf-fl'", "LOSS@CELL-LOSS@CELL", "1x and 2x");
        AssertUserError(CliHarness.Run(["study", .. cells, "--pair", "hpf@4x-fl@1x"]), "--pair 'hpf@4x-fl@1x'", "LOSS@CELL-LOSS@CELL");
        AssertUserError(CliHarness.Run(["study", .. cells, "--pair", "qfl@2x-fl@1x"]), "--pair 'qfl@2x-fl@1x'", "cell 2x", "no completed qfl run", "fl and hpf");
        AssertUserError(CliHarness.Run(["study", .. cells, "--pair", "fl@1x-fl@1x"]), "--pair 'fl@1x-fl@1x'", "two different");
        Assert.False(File.Exists(Path.Combine(outDir, "study.md")), "nothing is written for refused input");
    }

    [Fact]
    public void Cell_names_may_hold_a_dash()
    {
        var pair = HpfDet.Visualization.StudyReport.ParsePair("hpf@sched-2x-fl@sched-1x", ["sched-1x", "sched-2x"]);
        Assert.Equal((("hpf", "sched-2x")), pair.Left);
        Assert.Equal((("fl", "sched-1x")), pair.Right);
    }
}
