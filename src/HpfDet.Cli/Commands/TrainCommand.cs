using System.CommandLine;
using System.Globalization;
using HpfDet.Losses;
using HpfDet.Models;
using HpfDet.Training;

namespace HpfDet.Cli.Commands;

/// <summary>hpfdet train: one training run into a run folder.</summary>
public static class TrainCommand
{
    /// <summary>Options shared by train and compare: each overrides the configuration file's value.</summary>
    public sealed class RunOptions
    {
        public Option<string?> Data { get; } = new("--data") { Description = "Dataset path (VOC root, YOLO data.yaml, COCO train JSON) or 'synthetic'." };
        public Option<string?> Format { get; } = new("--format") { Description = "voc | coco | yolo | synthetic." };
        public Option<string?> Model { get; } = CreateModelOption();
        public Option<int?> Epochs { get; } = new("--epochs") { Description = "Training epochs." };
        public Option<int?> Batch { get; } = new("--batch") { Description = "Images per batch." };
        public Option<double?> Lr { get; } = new("--lr") { Description = "Base learning rate." };
        public Option<int?> Scale { get; } = new("--scale") { Description = "Short side of the input scale (the long side is capped by train.max_size)." };
        public Option<string?> Config { get; } = new("--config") { Description = "YAML file with every hyperparameter (see a run's config.yaml)." };
        public Option<string[]> Set { get; } = new("--set") { Description = "Override one key, e.g. --set train.lr=0.02 (repeatable).", AllowMultipleArgumentsPerToken = false };

        static Option<string?> CreateModelOption()
        {
            // HelpName: without it the help lists every detector name in the option column and pushes every description off the screen.
            var option = new Option<string?>("--model") { HelpName = "name", Description = $"{string.Join(" | ", DetectorRegistry.Names)} (default {DetectorRegistry.Names[0]}); r34/r50/r101 need model.backbone_weights or model.pretrained=false." };
            option.AcceptOnlyFromAmong([.. DetectorRegistry.Names]);
            return option;
        }

        public void AddTo(Command cmd)
        {
            foreach (var o in new Option[] { Data, Format, Model, Epochs, Batch, Lr, Scale, Config, Set }) cmd.Options.Add(o);
        }

        /// <summary>Defaults, then the YAML file, then the explicit options, then --set.</summary>
        public RunConfig Build(ParseResult parse, string? loss = null, RunConfig? start = null)
        {
            var config = parse.GetValue(Config) is { } file ? RunConfig.Load(file) : start ?? new RunConfig();
            if (parse.GetValue(Data) is { } data)
            {
                config.Data.Path = data;
                config.NoteOrigin("data.path", "--data");
                if (data == "synthetic")
                {
                    config.Data.Format = "synthetic";
                    config.NoteOrigin("data.format", "--data synthetic");
                }
            }
            if (parse.GetValue(Format) is { } format) { config.Data.Format = format; config.NoteOrigin("data.format", "--format"); }
            if (parse.GetValue(Model) is { } model) { config.Model.Name = model; config.NoteOrigin("model.name", "--model"); }
            if (loss is not null) { config.Loss.Name = loss; config.NoteOrigin("loss.name", "--loss"); }
            if (parse.GetValue(Epochs) is { } epochs) { config.Train.Epochs = epochs; config.NoteOrigin("train.epochs", "--epochs"); }
            if (parse.GetValue(Batch) is { } batch) { config.Train.Batch = batch; config.NoteOrigin("train.batch", "--batch"); }
            if (parse.GetValue(Lr) is { } lr) { config.Train.Lr = lr; config.NoteOrigin("train.lr", "--lr"); }
            if (parse.GetValue(Scale) is { } scale)
            {
                config.Train.Scale = scale;
                config.NoteOrigin("train.scale", "--scale");
                if (scale > config.Train.MaxSize)
                {
                    config.Train.MaxSize = scale;
                    config.NoteOrigin("train.max_size", "--scale");
                }
            }
            foreach (var s in parse.GetValue(Set) ?? [])
            {
                int eq = s.IndexOf('=');
                if (eq <= 0) throw new UserFacingException($"--set '{s}': expected key=value, e.g. --set train.lr=0.02.", ExitCodes.UsageError);
                config.Set(s[..eq].Trim(), s[(eq + 1)..], $"--set {s}");
            }
            if (config.Data.Format == "synthetic") config.Data.Path = "synthetic";
            config.Validate();
            if (config.Data.Format != "synthetic" && !File.Exists(config.Data.Path) && !Directory.Exists(config.Data.Path))
                throw new UserFacingException($"Dataset '{config.Data.Path}' not found (data.path). Pass --data with an existing folder or file, or --data synthetic.");
            return config;
        }
    }

    public static Command Create()
    {
        var run = new RunOptions();
        var loss = new Option<string?>("--loss") { Description = $"Classification loss: {string.Join(" | ", LossNames.All)} (default {LossNames.All[0]})." };
        loss.AcceptOnlyFromAmong([.. LossNames.All]);
        var output = new Option<string?>("--out") { Description = "Run folder (config.yaml, log.jsonl, checkpoints/, eval/, plots/)." };
        var resume = new Option<string?>("--resume") { Description = "Continue the run in this folder from checkpoints/last.ckpt." };
        var cmd = new Command("train", $"Train a dense detector ({string.Join(", ", Models.DetectorRegistry.Families.Select(f => f.Name))}) with focal loss, HPF, QFL or VFL; evaluates on the validation split.");
        run.AddTo(cmd);
        cmd.Options.Add(loss);
        cmd.Options.Add(output);
        cmd.Options.Add(resume);
        cmd.SetAction(parse =>
        {
            string? resumeDir = parse.GetValue(resume);
            var config = resumeDir is null ? run.Build(parse, parse.GetValue(loss)) : new RunConfig();
            string dir = resumeDir ?? parse.GetValue(output) ?? Path.Combine("runs", $"{config.Loss.Name}-{DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}");
            using var cts = CliRunner.CancelOnCtrlC();
            var summary = TrainPipeline.Run(config, dir, resumeDir is not null, "train", cts.Token);
            Report(summary);
            return summary.Outcome == TrainingOutcome.Interrupted ? ExitCodes.Interrupted : ExitCodes.Success;
        });
        return cmd;
    }

    public static void Report(RunSummary summary)
    {
        if (summary.Outcome == TrainingOutcome.Interrupted)
            Console.WriteLine($"Interrupted: checkpoint written to {summary.Checkpoint}; continue with 'hpfdet train --resume {summary.RunDir}'.");
        if (summary.FinalEvaluation is { } e)
        {
            Console.WriteLine(Evaluation.EvaluationReport.FormatSummary(e.Coco));
            Console.WriteLine($"VOC mAP@0.5: {e.Voc.MeanAp:F4}");
        }
        Console.WriteLine($"run folder:  {Path.GetFullPath(summary.RunDir)}");
        Console.WriteLine($"checkpoint:  {Path.GetFullPath(summary.Checkpoint)}");
        Console.WriteLine($"log:         {Path.GetFullPath(Path.Combine(summary.RunDir, "log.jsonl"))}");
        Console.WriteLine($"plots:       {Path.GetFullPath(Path.Combine(summary.RunDir, "plots"))}");
        Console.WriteLine($"evaluation:  {Path.GetFullPath(Path.Combine(summary.RunDir, "eval"))}");
    }
}
