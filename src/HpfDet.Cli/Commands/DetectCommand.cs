using System.CommandLine;
using HpfDet.Data;
using HpfDet.Models;
using HpfDet.Training;
using HpfDet.Visualization;

namespace HpfDet.Cli.Commands;

/// <summary>hpfdet detect: run a checkpoint on images, draw the detections, write COCO results.</summary>
public static class DetectCommand
{
    static readonly string[] ImageExtensions = [".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif"];

    public static Command Create()
    {
        var weights = new Option<string?>("--weights") { Description = "Checkpoint written by 'hpfdet train' (engine torch)." };
        var engine = new Option<string>("--engine") { Description = "torch: the checkpoint with libtorch; onnx: an exported model with ONNX Runtime.", DefaultValueFactory = _ => "torch" };
        engine.AcceptOnlyFromAmong("torch", "onnx");
        var model = new Option<string?>("--model") { Description = "ONNX model written by 'hpfdet export' (engine onnx)." };
        var images = new Option<string>("--images") { Description = "An image file or a folder of images.", Required = true };
        var output = new Option<string>("--out") { Description = "Output folder for the drawn PNGs and results.json.", Required = true };
        var precision = CliOptions.Precision();
        var batch = new Option<int>("--batch")
        {
            Description = "Images per forward pass (both engines). Larger batches are faster per image on CPU; images of one batch are padded to the largest.",
            DefaultValueFactory = _ => 4,
        };
        // Only the range: a value that is not a number is the parser's own error.
        batch.Validators.Add(r =>
        {
            if (r.Tokens.Count > 0 && int.TryParse(r.Tokens[^1].Value, System.Globalization.CultureInfo.InvariantCulture, out var n) && n < 1)
                r.AddError("--batch must be at least 1.");
        });
        var score = new Option<double>("--score") { Description = "Draw detections with at least this score (results.json keeps all).", DefaultValueFactory = _ => 0.3 };
        var cmd = new Command("detect", "Detect objects in images: PNG files with boxes, class names and scores drawn, plus a COCO results JSON.");
        foreach (var o in new Option[] { weights, engine, model, images, output, score, precision, batch }) cmd.Options.Add(o);
        cmd.Validators.Add(r =>
        {
            bool onnx = r.GetValue(engine) == "onnx";
            if (onnx && r.GetResult(model) is null) r.AddError("--engine onnx needs --model MODEL.onnx (written by 'hpfdet export').");
            if (onnx && r.GetResult(weights) is not null) r.AddError("--weights is a libtorch checkpoint: with --engine onnx give --model MODEL.onnx instead.");
            if (!onnx && r.GetResult(weights) is null) r.AddError("Give --weights CKPT (or --engine onnx --model MODEL.onnx).");
            if (!onnx && r.GetResult(model) is not null) r.AddError("--model is an ONNX model: add --engine onnx.");
            if (onnx && r.GetResult(precision) is { Implicit: false }) r.AddError("--precision applies to --engine torch (a checkpoint run with libtorch).");
        });
        cmd.SetAction(parse =>
        {
            int skipped;
            var written = parse.GetValue(engine) == "onnx"
                ? RunOnnx(parse.GetValue(model)!, parse.GetValue(images)!, parse.GetValue(output)!, parse.GetValue(score), out skipped, parse.GetValue(batch))
                : Run(parse.GetValue(weights)!, parse.GetValue(images)!, parse.GetValue(output)!, parse.GetValue(score), out skipped,
                    ComputePrecisionNames.Parse(parse.GetValue(precision)!), parse.GetValue(batch));
            Console.WriteLine($"wrote {written} images with detections and results.json to {Path.GetFullPath(parse.GetValue(output)!)}" +
                (skipped > 0 ? $"; skipped {skipped} image(s) that cannot be decoded" : ""));
            return ExitCodes.Success;
        });
        return cmd;
    }

    /// <summary>Returns the number of drawn images.</summary>
    public static int Run(string weights, string imagesPath, string outDir, double minScore) => Run(weights, imagesPath, outDir, minScore, out _);

    /// <summary>
    /// Returns the number of drawn images; <paramref name="skipped"/> counts the images that cannot be
    /// decoded (empty, truncated, not an image), which are left out of the drawings and of results.json alike.
    /// </summary>
    public static int Run(string weights, string imagesPath, string outDir, double minScore, out int skipped,
        ComputePrecision precision = ComputePrecision.Float32, int batch = 4) =>
        Run(imagesPath, outDir, minScore, out skipped, files =>
        {
            var (model, config, classNames) = CheckpointModel.Load(weights, precision);
            return (classNames, dataset =>
            {
                var loader = new DataLoader(dataset, config.TestTransforms(), config.InputNormalization(), new DataLoaderOptions(batch, config.Data.Workers, Shuffle: false));
                return (DetectionEvaluation.Predict(model, dataset, loader), loader.Issues);
            });
        });

    /// <summary>
    /// The same with an exported model on ONNX Runtime (HpfDet.Inference), in the libtorch path's batches:
    /// the same results.json and drawings.
    /// </summary>
    public static int RunOnnx(string modelPath, string imagesPath, string outDir, double minScore, out int skipped, int batch = 4)
    {
        HpfDet.Inference.OnnxDetector? detector = null;
        try
        {
            return Run(imagesPath, outDir, minScore, out skipped, files =>
            {
                detector = HpfDet.Inference.OnnxDetector.Load(modelPath);
                return (detector.Info.ClassNames, dataset =>
                {
                    var issues = new DataIssues();
                    return (OnnxPrediction.Predict(detector, dataset, batch, issues), issues);
                });
            });
        }
        finally { detector?.Dispose(); }
    }

    /// <summary>
    /// Lists and checks the images, asks <paramref name="engine"/> for the class names and a predictor,
    /// predicts, and writes results.json, the drawings and image_ids.txt.
    /// </summary>
    static int Run(string imagesPath, string outDir, double minScore, out int skipped,
        Func<string[], (IReadOnlyList<string> ClassNames, Func<DetectionDataset, (HpfDet.Evaluation.CocoDetections Detections, DataIssues Issues)> Predict)> engine)
    {
        TrainPipeline.RequireFolder(outDir, "--out");
        var files = File.Exists(imagesPath) ? [imagesPath]
            : Directory.Exists(imagesPath) ? Directory.GetFiles(imagesPath).Where(f => ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant())).OrderBy(f => f, StringComparer.Ordinal).ToArray()
            : throw new UserFacingException($"'{imagesPath}' is neither an image file nor a folder (--images).");
        if (files.Length == 0) throw new UserFacingException($"No image ({string.Join(", ", ImageExtensions)}) in '{imagesPath}'.");
        var (classNames, predict) = engine(files);
        var issues = new DataIssues();
        var samples = new List<DetectionSample>();
        foreach (var f in files)
        {
            if (ImageDecoder.ReadSize(f) is not { } size)
            {
                issues.Add(new DataIssue(DataIssueKind.CorruptImage, f, "cannot be decoded; skipped"));
                continue;
            }
            samples.Add(new DetectionSample(samples.Count + 1, Path.GetFullPath(f), Path.GetFileName(f), size.Width, size.Height, []));
        }
        if (samples.Count == 0)
            throw new UserFacingException($"None of the {files.Length} image(s) in '{imagesPath}' can be decoded: {issues.Summary(3).ReplaceLineEndings(" ")}");
        var dataset = new DetectionDataset("images", classNames, samples, issues);
        var (detections, loaderIssues) = predict(dataset);
        // A file whose header reads but whose pixels do not (truncated) was skipped by the loader like an
        // empty one by ReadSize: it has no detections in results.json and no drawing, and is counted.
        var undecodable = loaderIssues.Items.Where(i => i.SkipsSample).Select(i => i.File).ToHashSet();
        foreach (var issue in loaderIssues.Items) issues.Add(issue);
        Directory.CreateDirectory(outDir);
        detections.Save(Path.Combine(outDir, "results.json"));
        var categoryToLabel = Enumerable.Range(0, classNames.Count).ToDictionary(dataset.CategoryIdOf, i => i);
        var byImage = DetectionDrawer.FromCocoDetections(detections, id => categoryToLabel[id], minScore);
        var names = new DrawingFileNames();
        var lines = new List<string>();
        foreach (var s in samples.Where(s => !undecodable.Contains(s.ImagePath)))
        {
            var boxes = byImage.GetValueOrDefault(s.ImageId) ?? [];
            var png = names.PngFor(s.FileName);
            try { DetectionDrawer.Draw(s.ImagePath, boxes, classNames, Path.Combine(outDir, png)); }
            catch (HpfDetException e)
            {
                issues.Add(new DataIssue(DataIssueKind.CorruptImage, s.ImagePath, $"cannot be decoded for drawing ({e.Message}); skipped"));
                continue;
            }
            lines.Add($"{s.ImageId}\t{s.FileName}\t{png}");
        }
        File.WriteAllLines(Path.Combine(outDir, "image_ids.txt"), lines);
        skipped = issues.SkippedSamples;
        if (issues.Count > 0) Console.WriteLine($"warning: {issues.Summary()}");
        return lines.Count;
    }
}
