using HpfDet.Data;
using HpfDet.Evaluation;
using HpfDet.Training;

namespace HpfDet.Cli;

/// <summary>What a finished (or interrupted) training run left behind.</summary>
public sealed record RunSummary(string RunDir, string Checkpoint, TrainingOutcome Outcome, DetectionEvaluationResult? FinalEvaluation, IReadOnlyList<string> ClassNames);

/// <summary>
/// The training job behind 'train', 'demo' and 'compare': run folder DIR/{config.yaml, log.jsonl,
/// checkpoints/, eval/, plots/}, training with progress, evaluation, plots.
/// </summary>
public static class TrainPipeline
{
    /// <summary>Written into the run folder when training ran to its end (an interrupted run also leaves eval/final.json).</summary>
    public const string CompletedMarker = Visualization.CompareFolder.CompletedMarker;

    /// <summary>True when the run in <paramref name="runDir"/> trained to its end and wrote its final evaluation.</summary>
    public static bool IsCompleted(string runDir) => File.Exists(Path.Combine(runDir, CompletedMarker));

    public static RunSummary Run(RunConfig config, string runDir, bool resume, string label, CancellationToken cancellationToken)
    {
        if (!resume) config.Validate();
        RequireFolder(runDir, resume ? "--resume" : "--out");
        var checkpoint = Path.Combine(runDir, "checkpoints", "last.ckpt");
        if (resume)
        {
            if (!File.Exists(checkpoint))
                throw new UserFacingException($"Cannot resume: '{checkpoint}' does not exist. Start the run without --resume.");
            config = RunConfig.FromJson(Checkpoint.ReadInfo(checkpoint).Config);
            config.Validate(loadingPretrainedWeights: false);
        }
        else if (File.Exists(checkpoint))
        {
            throw new UserFacingException($"'{runDir}' already holds a run (checkpoints/last.ckpt). Use --resume to continue it, or another --out folder.");
        }
        Directory.CreateDirectory(runDir);
        File.Delete(Path.Combine(runDir, CompletedMarker));
        File.WriteAllText(Path.Combine(runDir, "config.yaml"), config.ToYaml());

        TorchSharp.torch.manual_seed(config.Train.Seed);
        var (train, val) = config.LoadDatasets();
        foreach (var (name, ds) in new[] { ("train", train), ("val", val) })
        {
            Console.WriteLine($"{label} {name}: {ds.Count} images, {ds.Samples.Sum(s => s.Boxes.Count)} boxes, classes {string.Join(", ", ds.ClassNames)}");
            if (ds.Issues.Count > 0) Console.WriteLine(ds.Issues.Summary());
        }
        if (train.Count == 0) throw new UserFacingException($"The training split of '{config.Data.Path}' has no usable image.");
        if (!train.ClassNames.SequenceEqual(val.ClassNames))
            throw new UserFacingException($"The training and validation splits have different classes ({string.Join(", ", train.ClassNames)} vs {string.Join(", ", val.ClassNames)}).");

        using var model = config.BuildDetector(train.ClassNames.Count, loadPretrained: !resume);
        var trainLoader = new DataLoader(train, config.TrainTransforms(), config.InputNormalization(),
            new DataLoaderOptions(config.Train.Batch, config.Data.Workers, Shuffle: true, Seed: config.Train.Seed));
        var valLoader = new DataLoader(val, config.TestTransforms(), config.InputNormalization(),
            new DataLoaderOptions(config.Train.Batch, config.Data.Workers, Shuffle: false));
        var evalDir = Path.Combine(runDir, "eval");
        Directory.CreateDirectory(evalDir);
        DetectionEvaluationResult? last = null;
        EvaluationLog? Evaluate(Models.DenseDetector m, int epoch, int iteration)
        {
            if (val.Count == 0) return null;
            try
            {
                last = DetectionEvaluation.Run(m, val, valLoader, cancellationToken: cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return null;   // Ctrl+C during evaluation: the trainer checkpoints and stops next
            }
            EvaluationReport.WriteJson(Path.Combine(evalDir, $"epoch_{epoch:D3}.json"), last.Coco, last.Voc);
            return DetectionEvaluation.ToLog(last, epoch, iteration);
        }

        if (config.Train.Precision == "bf16" && CpuFeatures.BFloat16Warning("train.precision: bf16") is { } bf16Warning) Console.WriteLine(bf16Warning);
        using var trainer = new Trainer(model, trainLoader, config.TrainerOptions(), runDir, train.ClassNames, Evaluate, config.ToJson());
        if (resume) trainer.Resume(checkpoint);
        var result = new TrainingProgress(trainer, label, trainer.Iteration).Run(() => trainer.Run(cancellationToken));
        if (trainLoader.Issues.Count > 0) Console.WriteLine(trainLoader.Issues.Summary());

        if (last is not null)
        {
            File.Copy(Path.Combine(evalDir, Directory.GetFiles(evalDir, "epoch_*.json").Select(Path.GetFileName).Max()!), Path.Combine(evalDir, "final.json"), overwrite: true);
            File.WriteAllText(Path.Combine(evalDir, "summary.txt"), EvaluationReport.FormatSummary(last.Coco) + "\n\n" + EvaluationReport.FormatPerCategoryTable(last.Coco, last.Voc));
            last.Detections.Save(Path.Combine(evalDir, "detections.json"));
            DrawValidationDetections(val, last, Path.Combine(runDir, "detections"));
        }
        WritePlots(runDir);
        if (result.Outcome == TrainingOutcome.Completed)
            File.WriteAllText(Path.Combine(runDir, CompletedMarker), $"{result.Iteration}\n");
        return new RunSummary(runDir, result.LastCheckpoint, result.Outcome, last, train.ClassNames);
    }

    /// <summary>
    /// The first validation images with ground truth (dashed) and detections scoring at least 0.3. An image
    /// that cannot be decoded (the loader skipped it too) is skipped with a count.
    /// </summary>
    public static int DrawValidationDetections(DetectionDataset val, DetectionEvaluationResult result, string dir, int count = 8)
    {
        Directory.CreateDirectory(dir);
        var categoryToLabel = Enumerable.Range(0, val.ClassNames.Count).ToDictionary(val.CategoryIdOf, i => i);
        var byImage = Visualization.DetectionDrawer.FromCocoDetections(result.Detections, id => categoryToLabel[id], minScore: 0.3);
        var names = new Visualization.DrawingFileNames();
        int skipped = 0;
        foreach (var sample in val.Samples.Take(count))
        {
            var detections = byImage.GetValueOrDefault(sample.ImageId) ?? [];
            var truth = sample.Boxes.Select(b => new Visualization.DrawnBox(b.X1, b.Y1, b.X2, b.Y2, b.Label, float.NaN)).ToList();
            ImageBuffer image;
            try { image = sample.LoadImage(); }
            catch (HpfDetException)
            {
                skipped++;
                continue;
            }
            var png = Path.Combine(dir, names.PngFor(sample.FileName));
            File.WriteAllBytes(png, ImageDecoder.EncodePng(Visualization.DetectionDrawer.Render(image, detections, val.ClassNames, truth)));
        }
        if (skipped > 0) Console.WriteLine($"warning: {skipped} validation image(s) could not be decoded and were not drawn into {dir}.");
        return skipped;
    }

    /// <summary>Refuses a run folder path that is an existing file (before anything is read or written).</summary>
    public static void RequireFolder(string dir, string option)
    {
        if (File.Exists(dir))
            throw new UserFacingException($"{option} '{dir}' is a file; give a folder (it is created if missing).");
    }

    /// <summary>Plots of the run log into DIR/plots.</summary>
    public static void WritePlots(string runDir)
    {
        var log = Path.Combine(runDir, "log.jsonl");
        if (!File.Exists(log)) return;
        Visualization.TrainingPlots.WriteFromLog(log, Path.Combine(runDir, "plots"));
    }
}
