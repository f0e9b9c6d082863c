using System.CommandLine;
using System.Globalization;
using HpfDet.Data;
using HpfDet.Training;

namespace HpfDet.Cli.Commands;

/// <summary>hpfdet demo: the whole job on built-in synthetic data, in a few minutes on a CPU.</summary>
public static class DemoCommand
{
    /// <summary>The demo's settings: a small ATSS-R18 (ImageNet weights) with HPF on 320×320 synthetic shapes.</summary>
    public static RunConfig Preset()
    {
        var c = new RunConfig();
        c.Data.Format = "synthetic";
        c.Data.SyntheticCount = 160;
        c.Data.SyntheticValCount = 32;
        c.Data.SyntheticSize = 320;
        c.Model.FpnChannels = 64;
        c.Model.HeadChannels = 64;
        c.Model.HeadConvs = 2;
        c.Model.HeadGroups = 16;
        c.Loss.Name = "hpf";
        c.Train.Epochs = 8;
        c.Train.Batch = 4;
        c.Train.Lr = 0.01;
        c.Train.WarmupIters = 30;
        c.Train.DecayEpochs = [6];
        c.Train.GradClip = 35;
        c.Train.EvalEvery = 4;
        c.Train.Scale = 320;
        c.Train.MaxSize = 320;
        return c;
    }

    public static Command Create()
    {
        var output = new Option<string?>("--out") { Description = "Run folder (default: runs/demo-<time>)." };
        var epochs = new Option<int?>("--epochs") { Description = "Training epochs (default 8, about three minutes on 2 CPU cores)." };
        var set = new Option<string[]>("--set") { Description = "Override one configuration key, e.g. --set loss.name=fl (repeatable)." };
        var cmd = new Command("demo", "The main job on built-in data: generate synthetic shapes, train a small ATSS-R18 with HPF, evaluate, draw detections.");
        cmd.Options.Add(output);
        cmd.Options.Add(epochs);
        cmd.Options.Add(set);
        cmd.SetAction(parse =>
        {
            var config = Preset();
            if (parse.GetValue(epochs) is { } e)
            {
                config.Train.Epochs = e;
                config.NoteOrigin("train.epochs", "--epochs");
            }
            foreach (var s in parse.GetValue(set) ?? [])
            {
                int eq = s.IndexOf('=');
                if (eq <= 0) throw new UserFacingException($"--set '{s}': expected key=value.", ExitCodes.UsageError);
                config.Set(s[..eq].Trim(), s[(eq + 1)..], $"--set {s}");
            }
            config.Validate();   // before anything is generated or written
            string dir = parse.GetValue(output) ?? Path.Combine("runs", $"demo-{DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}");
            TrainPipeline.RequireFolder(dir, "--out");
            Console.WriteLine($"HpfDet demo: {config.Data.SyntheticCount} synthetic training images ({config.Data.SyntheticSize}×{config.Data.SyntheticSize}), " +
                $"ATSS-R18 (ImageNet weights) with {config.Loss.Name.ToUpperInvariant()}, {config.Train.Epochs} epochs, into {dir}");

            // The synthetic validation images as PNG + COCO JSON, so the detections can be drawn from files.
            var valFolder = Path.Combine(dir, "data", "val");
            SyntheticShapesDataset.Generate(valFolder, new SyntheticShapesOptions(config.Data.SyntheticValCount, config.Data.SyntheticSize, config.Train.Seed + 1_000_003));

            using var cts = CliRunner.CancelOnCtrlC();
            var summary = TrainPipeline.Run(config, dir, resume: false, "demo", cts.Token);
            var detections = Path.Combine(dir, "detections");
            int drawn = DetectCommand.Run(summary.Checkpoint, Path.Combine(valFolder, "images"), detections, 0.3);
            TrainCommand.Report(summary);
            Console.WriteLine($"detections:  {Path.GetFullPath(detections)} ({drawn} images drawn)");
            return summary.Outcome == TrainingOutcome.Interrupted ? ExitCodes.Interrupted : ExitCodes.Success;
        });
        return cmd;
    }
}
