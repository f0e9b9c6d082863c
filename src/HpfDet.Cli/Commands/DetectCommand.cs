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
        var weights = new Option<string>("--weights") { Description = "Checkpoint written by 'hpfdet train'.", Required = true };
        var images = new Option<string>("--images") { Description = "An image file or a folder of images.", Required = true };
        var output = new Option<string>("--out") { Description = "Output folder for the drawn PNGs and results.json.", Required = true };
        var score = new Option<double>("--score") { Description = "Draw detections with at least this score (results.json keeps all).", DefaultValueFactory = _ => 0.3 };
        var cmd = new Command("detect", "Detect objects in images: PNG files with boxes, class names and scores drawn, plus a COCO results JSON.");
        foreach (var o in new Option[] { weights, images, output, score }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            var written = Run(parse.GetValue(weights)!, parse.GetValue(images)!, parse.GetValue(output)!, parse.GetValue(score));
            Console.WriteLine($"wrote {written} images with detections and results.json to {Path.GetFullPath(parse.GetValue(output)!)}");
            return ExitCodes.Success;
        });
        return cmd;
    }

    /// <summary>Returns the number of drawn images.</summary>
    public static int Run(string weights, string imagesPath, string outDir, double minScore)
    {
        var files = File.Exists(imagesPath) ? [imagesPath]
            : Directory.Exists(imagesPath) ? Directory.GetFiles(imagesPath).Where(f => ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant())).OrderBy(f => f, StringComparer.Ordinal).ToArray()
            : throw new UserFacingException($"'{imagesPath}' is neither an image file nor a folder (--images).");
        if (files.Length == 0) throw new UserFacingException($"No image ({string.Join(", ", ImageExtensions)}) in '{imagesPath}'.");
        var (model, config, classNames) = CheckpointModel.Load(weights);
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
        var dataset = new DetectionDataset("images", classNames, samples, issues);
        var loader = new DataLoader(dataset, config.TestTransforms(), config.InputNormalization(), new DataLoaderOptions(1, config.Data.Workers, Shuffle: false));
        var detections = DetectionEvaluation.Predict(model, dataset, loader);
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
        return samples.Count;
    }
}
