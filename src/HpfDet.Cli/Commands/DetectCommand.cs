using System.CommandLine;
using HpfDet.Data;
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
        var score = new Option<double>("--score") { Description = "Draw detections with at least this score (results.json keeps all).", DefaultValueFactory = _ => 0.3 };
        var cmd = new Command("detect", "Detect objects in images: PNG files with boxes, class names and scores drawn, plus a COCO results JSON.");
        foreach (var o in new Option[] { weights, engine, model, images, output, score }) cmd.Options.Add(o);
        cmd.Validators.Add(r =>
        {
            bool onnx = r.GetValue(engine) == "onnx";
            if (onnx && r.GetResult(model) is null) r.AddError("--engine onnx needs --model MODEL.onnx (written by 'hpfdet export').");
            if (onnx && r.GetResult(weights) is not null) r.AddError("--weights is a libtorch checkpoint: with --engine onnx give --model MODEL.onnx instead.");
            if (!onnx && r.GetResult(weights) is null) r.AddError("Give --weights CKPT (or --engine onnx --model MODEL.onnx).");
            if (!onnx && r.GetResult(model) is not null) r.AddError("--model is an ONNX model: add --engine onnx.");
        });
        cmd.SetAction(parse =>
        {
            var written = parse.GetValue(engine) == "onnx"
                ? RunOnnx(parse.GetValue(model)!, parse.GetValue(images)!, parse.GetValue(output)!, parse.GetValue(score))
                : Run(parse.GetValue(weights)!, parse.GetValue(images)!, parse.GetValue(output)!, parse.GetValue(score));
            Console.WriteLine($"wrote {written} images with detections and results.json to {Path.GetFullPath(parse.GetValue(output)!)}");
            return ExitCodes.Success;
        });
        return cmd;
    }

    /// <summary>Runs the checkpoint with libtorch; returns the number of drawn images.</summary>
    public static int Run(string weights, string imagesPath, string outDir, double minScore)
    {
        var files = ImageFiles(imagesPath);
        var (model, config, classNames) = CheckpointModel.Load(weights);
        var (dataset, samples) = Dataset(files, classNames);
        var loader = new DataLoader(dataset, config.TestTransforms(), config.InputNormalization(), new DataLoaderOptions(1, config.Data.Workers, Shuffle: false));
        var detections = DetectionEvaluation.Predict(model, dataset, loader);
        Write(dataset, samples, classNames, detections, outDir, minScore);
        return samples.Count;
    }

    /// <summary>Runs an exported model with ONNX Runtime, one image at a time as the libtorch path; returns the number of drawn images.</summary>
    public static int RunOnnx(string modelPath, string imagesPath, string outDir, double minScore)
    {
        var files = ImageFiles(imagesPath);
        using var detector = HpfDet.Inference.OnnxDetector.Load(modelPath);
        var classNames = detector.Info.ClassNames;
        var (dataset, samples) = Dataset(files, classNames);
        var detections = OnnxPrediction.Predict(detector, dataset, 1, dataset.Issues);
        Write(dataset, samples, classNames, detections, outDir, minScore);
        return samples.Count;
    }

    static string[] ImageFiles(string imagesPath)
    {
        var files = File.Exists(imagesPath) ? [imagesPath]
            : Directory.Exists(imagesPath) ? Directory.GetFiles(imagesPath).Where(f => ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant())).OrderBy(f => f, StringComparer.Ordinal).ToArray()
            : throw new UserFacingException($"'{imagesPath}' is neither an image file nor a folder (--images).");
        if (files.Length == 0) throw new UserFacingException($"No image ({string.Join(", ", ImageExtensions)}) in '{imagesPath}'.");
        return files;
    }

    /// <summary>The decodable images as a dataset without ground truth; the others are reported and skipped.</summary>
    static (DetectionDataset Dataset, List<DetectionSample> Samples) Dataset(string[] files, IReadOnlyList<string> classNames)
    {
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
        if (issues.Count > 0) Console.WriteLine(issues.Summary());
        return (new DetectionDataset("images", classNames, samples, issues), samples);
    }

    /// <summary>results.json (COCO results), one drawn PNG per image, image_ids.txt.</summary>
    static void Write(DetectionDataset dataset, List<DetectionSample> samples, IReadOnlyList<string> classNames, HpfDet.Evaluation.CocoDetections detections, string outDir, double minScore)
    {
        Directory.CreateDirectory(outDir);
        detections.Save(Path.Combine(outDir, "results.json"));
        var categoryToLabel = Enumerable.Range(0, classNames.Count).ToDictionary(dataset.CategoryIdOf, i => i);
        var byImage = DetectionDrawer.FromCocoDetections(detections, id => categoryToLabel[id], minScore);
        foreach (var s in samples)
        {
            var boxes = byImage.GetValueOrDefault(s.ImageId) ?? [];
            DetectionDrawer.Draw(s.ImagePath, boxes, classNames, Path.Combine(outDir, Path.GetFileNameWithoutExtension(s.FileName) + ".png"));
        }
        File.WriteAllLines(Path.Combine(outDir, "image_ids.txt"), samples.Select(s => $"{s.ImageId}\t{s.FileName}"));
    }
}
