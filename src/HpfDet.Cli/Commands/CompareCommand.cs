using System.CommandLine;
using HpfDet.Losses;
using HpfDet.Training;
using HpfDet.Visualization;

namespace HpfDet.Cli.Commands;

/// <summary>hpfdet compare: every model × loss × seed under the same settings, then a report.</summary>
public static class CompareCommand
{
    public static Command Create()
    {
        var run = new TrainCommand.RunOptions();
        var losses = new Option<string>("--losses") { Description = $"Comma-separated losses to compare: {string.Join(", ", LossNames.All)}, or {LossNames.Native} (each model's reference loss: " +
            $"{string.Join("; ", Models.DetectorRegistry.Families.Select(f => $"{f.Name} {f.NativeLoss}"))}); 'name:N' gives that loss N seeds (e.g. fl:3,hpf:3,qfl:1 or native:1,hpf:1).", DefaultValueFactory = _ => $"{LossNames.Focal},{LossNames.Hpf}" };
        var seeds = new Option<int>("--seeds") { Description = "Seeds per loss without its own ':N' (0, 1, ...).", DefaultValueFactory = _ => 3 };
        var models = new Option<string?>("--models") { Description = $"Comma-separated models to compare, each with every loss (default: the configured model alone). Models: {string.Join(", ", Models.DetectorRegistry.Names)}." };
        var output = new Option<string>("--out") { Description = "Results folder: one run folder per loss and seed, report.md and charts.", Required = true };
        var reportOnly = new Option<bool>("--report-only")
        {
            Description = "Train nothing: write the report from the completed runs of the plan found in --out (runs made by 'hpfdet train --out OUT/NAME' count), listing those missing.",
        };
        var cmd = new Command("compare", "Train each loss with each seed under the same settings and write a report (Markdown + PNG charts). " +
            "Completed runs are kept (each marks itself with a 'completed' file), so an interrupted comparison continues where it stopped; " +
            "a completed run's log is kept gzip-compressed as log.jsonl.gz.");
        run.AddTo(cmd);
        cmd.Options.Add(losses);
        cmd.Options.Add(seeds);
        cmd.Options.Add(models);
        cmd.Options.Add(output);
        cmd.Options.Add(reportOnly);
        cmd.SetAction(parse =>
        {
            int defaultSeeds = parse.GetValue(seeds);
            var plan = ParsePlan(parse.GetValue(losses)!, defaultSeeds);
            string outDir = parse.GetValue(output)!;
            var baseConfig = run.Build(parse);
            TrainPipeline.RequireFolder(outDir, "--out");
            bool onlyReport = parse.GetValue(reportOnly);
            if (onlyReport && !Directory.Exists(outDir))
                throw new UserFacingException($"--report-only: {outDir} does not exist; give the folder of an earlier comparison.", ExitCodes.UserError);
            Directory.CreateDirectory(outDir);
            // The settings the runs were trained with stay recorded; a report-only pass trains nothing.
            if (!onlyReport) File.WriteAllText(Path.Combine(outDir, "config.yaml"), baseConfig.ToYaml());
            var missing = new List<string>();
            using var cts = CliRunner.CancelOnCtrlC();
            var runs = new List<CompareRun>();
            var modelList = ParseModels(parse.GetValue(models));
            foreach (var model in modelList ?? [baseConfig.Model.Name]) CheckResolvedLosses(plan, model);
            // Seed-major order (fl s0, hpf s0, fl s1, ...): a comparison stopped part-way already has
            // paired runs of every loss, and continuing it fills in further seeds.
            int maxSeeds = plan.Max(p => p.Seeds);
            foreach (string? model in modelList?.Cast<string?>() ?? [null])
            for (int seed = 0; seed < maxSeeds; seed++)
                foreach (var (planned, seedCount) in plan.Where(p => seed < p.Seeds))
                {
                    var lossToTrain = ResolveLoss(planned, model ?? baseConfig.Model.Name);
                    string loss = lossToTrain.Name;
                    // One model keeps the folder names of a loss comparison; several get the model in front.
                    string group = model is null ? loss : $"{model} {loss}";
                    var runDir = Path.Combine(outDir, model is null ? $"{loss}-seed{seed}" : $"{model}-{loss}-seed{seed}");
                    // Only a run that trained to its end counts as done: an interrupted one leaves eval/final.json too.
                    bool completed = TrainPipeline.IsCompleted(runDir);
                    if (!completed && onlyReport)
                    {
                        Console.WriteLine($"compare: {group} seed {seed} not completed ({runDir}); left out of the report");
                        missing.Add($"{group} seed {seed}");
                        continue;
                    }
                    if (!completed)
                    {
                        var config = run.Build(parse, loss);
                        config.Train.Seed = seed;
                        if (model is not null) config.Model.Name = model;
                        ApplySettings(lossToTrain, config);
                        bool resume = File.Exists(Path.Combine(runDir, "checkpoints", "last.ckpt"));
                        Console.WriteLine($"compare: {(resume ? "resuming" : "training")} {loss} seed {seed} in {runDir}");
                        var summary = TrainPipeline.Run(config, runDir, resume, $"{group}/s{seed}", cts.Token);
                        if (summary.Outcome == TrainingOutcome.Interrupted)
                        {
                            Console.WriteLine($"Interrupted; run the same command again to continue from {summary.Checkpoint}.");
                            return ExitCodes.Interrupted;
                        }
                    }
                    else Console.WriteLine($"compare: {loss} seed {seed} already done ({Path.Combine(runDir, "eval", "final.json")})");
                    // A finished run is a record: its per-iteration log is kept compressed (about a fifth of the size).
                    if (File.Exists(Path.Combine(runDir, TrainingLogJson.FileName))) TrainingLogJson.Compress(Path.Combine(runDir, TrainingLogJson.FileName));
                    runs.Add(CompareFolder.ReadRun(group, seed, runDir));
                }
            if (runs.Count == 0)
                throw new UserFacingException($"--report-only: none of the {missing.Count} planned runs is completed in {outDir}; nothing to report.", ExitCodes.UserError);
            if (missing.Count > 0) Console.WriteLine($"compare: {missing.Count} planned run(s) not completed, left out: {string.Join(", ", missing)}");
            string title = $"{(modelList is null ? "Loss comparison" : $"Detector × loss comparison ({string.Join(", ", modelList)})")}: " +
                string.Join(" vs ", plan.Select(p => $"{p.Loss} ({p.Seeds} seed{(p.Seeds == 1 ? "" : "s")})"));
            var report = CompareReport.Write(runs, outDir, title);
            Console.WriteLine(File.ReadAllText(report));
            Console.WriteLine($"report: {Path.GetFullPath(report)}");
            return ExitCodes.Success;
        });
        return cmd;
    }

    /// <summary>"atss-r18,fcos-r18" → the names, checked against the registry; null or empty → null (the configured model).</summary>
    public static List<string>? ParseModels(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var names = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
        foreach (var name in names)
            if (!Models.DetectorRegistry.IsKnown(name))
                throw new UserFacingException($"--models: unknown model '{name}'; models: {string.Join(", ", Models.DetectorRegistry.Names)}.", ExitCodes.UsageError);
        if (names.Distinct().Count() != names.Count) throw new UserFacingException("--models: a model is listed twice.", ExitCodes.UsageError);
        return names;
    }

    /// <summary>"fl:3,hpf:3,qfl" with a default of 3 seeds: [(fl, 3), (hpf, 3), (qfl, 3)].</summary>
    public static List<(string Loss, int Seeds)> ParsePlan(string text, int defaultSeeds)
    {
        var plan = new List<(string Loss, int Seeds)>();
        foreach (var item in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = item.Split(':');
            var loss = parts[0];
            if (!LossNames.All.Contains(loss) && loss != LossNames.Native)
                throw new UserFacingException($"--losses: unknown loss '{loss}'; use {string.Join(", ", LossNames.All)} or {LossNames.Native}.", ExitCodes.UsageError);
            int n = defaultSeeds;
            if (parts.Length > 2 || (parts.Length == 2 && !int.TryParse(parts[1], out n)) || n < 1)
                throw new UserFacingException($"--losses: '{item}' should be a loss name or name:seeds with seeds >= 1.", ExitCodes.UsageError);
            if (plan.Any(p => p.Loss == loss)) throw new UserFacingException($"--losses: '{loss}' is listed twice.", ExitCodes.UsageError);
            plan.Add((loss, n));
        }
        if (plan.Count == 0) throw new UserFacingException("--losses: name at least one loss.", ExitCodes.UsageError);
        return plan;
    }

    /// <summary>The loss a plan entry trains for <paramref name="model"/>: 'native' is the model's reference loss, any other name itself.</summary>
    public static Models.NativeLoss ResolveLoss(string planned, string model) =>
        planned == LossNames.Native ? Models.DetectorRegistry.Parse(model).Family.NativeLoss : new Models.NativeLoss(planned);

    /// <summary>Refuses a plan that would train one loss twice for a model ('native' and the loss it stands for).</summary>
    public static void CheckResolvedLosses(IReadOnlyList<(string Loss, int Seeds)> plan, string model)
    {
        var names = plan.Select(p => ResolveLoss(p.Loss, model).Name).ToList();
        var twice = names.GroupBy(n => n).FirstOrDefault(g => g.Count() > 1)?.Key;
        if (twice is not null)
            throw new UserFacingException($"--losses: for {model}, '{LossNames.Native}' is {twice}, which is listed too; list it once.", ExitCodes.UsageError);
    }

    /// <summary>The reference γ and α of a native loss, where it has its own.</summary>
    static void ApplySettings(Models.NativeLoss loss, RunConfig config)
    {
        string origin = $"--losses {LossNames.Native} ({config.Model.Name})";
        if (loss.Gamma is { } gamma) { config.Loss.Gamma = gamma; config.NoteOrigin("loss.gamma", origin); }
        if (loss.Alpha is { } alpha) { config.Loss.Alpha = alpha; config.NoteOrigin("loss.alpha", origin); }
    }
}
