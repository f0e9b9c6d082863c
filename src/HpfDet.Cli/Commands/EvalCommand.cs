using System.CommandLine;
using System.Diagnostics;
using HpfDet.Evaluation;
using HpfDet.Models;

namespace HpfDet.Cli.Commands;

/// <summary>
/// `hpfdet eval`: COCO (pycocotools-identical but for annotation id 0, see CocoEvaluator) and VOC mAP@0.5 evaluation. File form:
/// `--gt GT.json --results DT.json [--json OUT.json] [--plots DIR]`. The options of the file form
/// are optional so that other forms can share the command; they are required together.
/// </summary>
public static class EvalCommand
{
    public static Command Create()
    {
        var gtOption = new Option<FileInfo?>("--gt") { Description = "COCO ground-truth JSON (images, annotations, categories). Goes with --results." };
        var resultsOption = new Option<FileInfo?>("--results") { Description = "COCO results JSON: [{image_id, category_id, bbox: [x, y, w, h], score}]. Goes with --gt." };
        var jsonOption = new Option<FileInfo?>("--json") { Description = "Write the metrics to this JSON file." };
        var plotsOption = new Option<DirectoryInfo?>("--plots") { Description = "Write precision-recall curves (pr_curves.png) to this folder." };
        var weightsOption = new Option<FileInfo?>("--weights") { Description = "A checkpoint written by 'hpfdet train': run it on --data and evaluate." };
        var onnxOption = new Option<FileInfo?>("--onnx") { Description = "A model written by 'hpfdet export': run it with ONNX Runtime on --data and evaluate." };
        var dataOption = new Option<string?>("--data") { Description = "With --weights or --onnx: dataset path (VOC root, YOLO data.yaml, COCO JSON) or 'synthetic'." };
        var formatOption = new Option<string?>("--format") { Description = "With --weights: voc | coco | yolo | synthetic (default: the checkpoint's)." };
        var splitOption = new Option<string?>("--split") { Description = "With --weights: split to evaluate (default: the run's validation split)." };
        var precisionOption = CliOptions.Precision();
        var cmd = new Command("eval", "Evaluate detections: COCO AP/AR exactly as pycocotools computes them (except that an annotation with id 0 is matched " +
            "like any other, where pycocotools treats it as unmatched), plus Pascal VOC mAP@0.5. " +
            "Either a results file (--gt, --results) or a checkpoint on a dataset (--weights, --data).");
        cmd.Options.Add(weightsOption);
        cmd.Options.Add(onnxOption);
        cmd.Options.Add(dataOption);
        cmd.Options.Add(formatOption);
        cmd.Options.Add(splitOption);
        cmd.Options.Add(precisionOption);
        cmd.Options.Add(gtOption);
        cmd.Options.Add(resultsOption);
        cmd.Options.Add(jsonOption);
        cmd.Options.Add(plotsOption);
        cmd.Validators.Add(r =>
        {
            var hasGt = r.GetResult(gtOption) is not null;
            var hasResults = r.GetResult(resultsOption) is not null;
            var hasWeights = r.GetResult(weightsOption) is not null;
            var hasOnnx = r.GetResult(onnxOption) is not null;
            if (hasWeights && hasOnnx)
                r.AddError("Give either --weights (a checkpoint, libtorch) or --onnx (an exported model, ONNX Runtime), not both.");
            hasWeights |= hasOnnx;
            if (hasGt != hasResults)
                r.AddError("--gt and --results go together: give both to evaluate a results file.");
            else if (hasGt && hasWeights)
                r.AddError("Give either --gt/--results (a results file) or --weights (a checkpoint), not both.");
            else if (r.GetResult(precisionOption) is { Implicit: false } && (hasOnnx || !hasWeights))
                r.AddError("--precision applies to --weights (a checkpoint run with libtorch).");
            else if (!hasGt && !hasWeights)
                r.AddError("Nothing to evaluate: give --gt GT.json --results DT.json, --weights CKPT --data PATH, or --onnx MODEL.onnx --data PATH.");
        });
        cmd.SetAction(parse =>
        {
            if (parse.GetValue(onnxOption) is { } onnx)
                return RunOnnxEvaluation(onnx.FullName, parse.GetValue(dataOption), parse.GetValue(formatOption), parse.GetValue(splitOption),
                    parse.GetValue(jsonOption)?.FullName, parse.GetValue(plotsOption)?.FullName, Console.Out);
            if (parse.GetValue(weightsOption) is { } weights)
                return RunCheckpointEvaluation(weights.FullName, parse.GetValue(dataOption), parse.GetValue(formatOption), parse.GetValue(splitOption),
                    parse.GetValue(jsonOption)?.FullName, parse.GetValue(plotsOption)?.FullName, Console.Out, ComputePrecisionNames.Parse(parse.GetValue(precisionOption)!));
            var gt = parse.GetValue(gtOption)!;
            var results = parse.GetValue(resultsOption)!;
            return RunFileEvaluation(gt.FullName, results.FullName, parse.GetValue(jsonOption)?.FullName, parse.GetValue(plotsOption)?.FullName, Console.Out);
        });
        return cmd;
    }

    /// <summary>
    /// The file form: loads both files, evaluates, prints warnings, the pycocotools summary, the per-class
    /// table and VOC mAP@0.5 to <paramref name="output"/>, and writes the JSON and the plot when asked.
    /// Throws <see cref="HpfDetException"/> on bad input. Returns the exit code.
    /// </summary>
    /// <summary>The checkpoint form: predicts the split with the checkpoint's model and evaluates it.</summary>
    public static int RunCheckpointEvaluation(string weights, string? data, string? format, string? split, string? jsonPath, string? plotsDir, TextWriter output,
        ComputePrecision precision = ComputePrecision.Float32)
    {
        var (model, config, classNames) = CheckpointModel.Load(weights, precision);
        if (data is not null)
        {
            config.Data.Path = data;
            config.Data.Format = data == "synthetic" ? "synthetic" : format ?? config.Data.Format;
        }
        if (split is not null) config.Data.ValSplit = split;
        var (_, dataset) = config.LoadDatasets();
        if (dataset.Issues.Count > 0) output.WriteLine(dataset.Issues.Summary());
        if (!dataset.ClassNames.SequenceEqual(classNames))
            throw new UserFacingException($"The dataset's classes ({string.Join(", ", dataset.ClassNames)}) differ from the checkpoint's ({string.Join(", ", classNames)}).");
        var loader = new HpfDet.Data.DataLoader(dataset, config.TestTransforms(), config.InputNormalization(),
            new HpfDet.Data.DataLoaderOptions(config.Train.Batch, config.Data.Workers, Shuffle: false));
        var r = HpfDet.Training.DetectionEvaluation.Run(model, dataset, loader);
        return Report(r, $"Evaluated {dataset.Count} images of '{config.Data.Path}' ({config.Data.ValSplit}) in {r.Seconds:F1} s" +
            (precision == ComputePrecision.Float32 ? "." : $", {ComputePrecisionNames.All[(int)precision]} inference."), jsonPath, plotsDir, output);
    }

    /// <summary>
    /// The exported-model form: the split (from the training configuration stored in the model, or
    /// --data/--format/--split) predicted with ONNX Runtime in the checkpoint form's batches, then evaluated alike.
    /// </summary>
    public static int RunOnnxEvaluation(string modelPath, string? data, string? format, string? split, string? jsonPath, string? plotsDir, TextWriter output)
    {
        using var detector = HpfDet.Inference.OnnxDetector.Load(modelPath);
        var config = detector.Info.RunConfigJson is { } json
            ? HpfDet.Training.RunConfig.FromJson(System.Text.Json.Nodes.JsonNode.Parse(json)?.AsObject())
            : new HpfDet.Training.RunConfig();
        if (data is null && detector.Info.RunConfigJson is null)
            throw new UserFacingException($"'{modelPath}' does not name its training data: give --data PATH (and --format).");
        if (data is not null)
        {
            config.Data.Path = data;
            config.Data.Format = data == "synthetic" ? "synthetic" : format ?? config.Data.Format;
        }
        if (split is not null) config.Data.ValSplit = split;
        var (_, dataset) = config.LoadDatasets();
        if (dataset.Issues.Count > 0) output.WriteLine(dataset.Issues.Summary());
        if (!dataset.ClassNames.SequenceEqual(detector.Info.ClassNames))
            throw new UserFacingException($"The dataset's classes ({string.Join(", ", dataset.ClassNames)}) differ from the model's ({string.Join(", ", detector.Info.ClassNames)}).");
        var clock = Stopwatch.StartNew();
        var issues = new HpfDet.Data.DataIssues();
        var detections = OnnxPrediction.Predict(detector, dataset, config.Train.Batch, issues);
        if (issues.Count > 0) output.WriteLine(issues.Summary());
        var gt = HpfDet.Training.DetectionEvaluation.GroundTruthOf(dataset);
        var r = new HpfDet.Training.DetectionEvaluationResult(CocoEvaluator.Evaluate(gt, detections), VocEvaluator.Evaluate(gt, detections), detections, gt, clock.Elapsed.TotalSeconds);
        return Report(r, $"Evaluated {dataset.Count} images of '{config.Data.Path}' ({config.Data.ValSplit}) with ONNX Runtime in {r.Seconds:F1} s.", jsonPath, plotsDir, output);
    }

    static int Report(HpfDet.Training.DetectionEvaluationResult r, string headline, string? jsonPath, string? plotsDir, TextWriter output)
    {
        output.WriteLine(headline);
        output.WriteLine(EvaluationReport.FormatSummary(r.Coco));
        output.WriteLine();
        output.Write(EvaluationReport.FormatPerCategoryTable(r.Coco, r.Voc));
        output.WriteLine($"VOC mAP@0.5 (all-points): {r.Voc.MeanAp:0.0000}");
        if (jsonPath != null)
        {
            EvaluationReport.WriteJson(jsonPath, r.Coco, r.Voc);
            output.WriteLine($"Metrics written to {jsonPath}");
        }
        if (plotsDir != null)
            output.WriteLine($"Precision-recall curves written to {PrPlotter.Write(r.Coco, Path.Combine(plotsDir, "pr_curves.png"))}");
        return ExitCodes.Success;
    }

    public static int RunFileEvaluation(string gtPath, string resultsPath, string? jsonPath, string? plotsDir, TextWriter output)
    {
        var clock = Stopwatch.StartNew();
        var gt = CocoGroundTruth.Load(gtPath);
        var dts = CocoDetections.Load(resultsPath);
        var loadSeconds = clock.Elapsed.TotalSeconds;
        var result = CocoEvaluator.Evaluate(gt, dts);
        var cocoSeconds = clock.Elapsed.TotalSeconds - loadSeconds;
        var voc = VocEvaluator.Evaluate(gt, dts);
        var vocSeconds = clock.Elapsed.TotalSeconds - loadSeconds - cocoSeconds;

        foreach (var w in result.Input.Warnings) output.WriteLine($"warning: {w}");
        output.WriteLine($"Evaluated {result.Input.DetectionsEvaluated} detections on {result.Input.Images} images, " +
            $"{result.Input.Categories} categories, {result.Input.GroundTruthBoxes} ground-truth boxes " +
            $"(load {loadSeconds:0.00} s, COCO {cocoSeconds:0.00} s, VOC {vocSeconds:0.00} s).");
        output.WriteLine(EvaluationReport.FormatSummary(result));
        output.WriteLine();
        output.Write(EvaluationReport.FormatPerCategoryTable(result, voc));
        output.WriteLine($"VOC mAP@0.5 (all-points): {(double.IsNaN(voc.MeanAp) ? "-" : voc.MeanAp.ToString("0.0000", System.Globalization.CultureInfo.InvariantCulture))}");
        if (jsonPath != null)
        {
            EvaluationReport.WriteJson(jsonPath, result, voc);
            output.WriteLine($"Metrics written to {jsonPath}");
        }
        if (plotsDir != null)
        {
            var png = PrPlotter.Write(result, Path.Combine(plotsDir, "pr_curves.png"));
            output.WriteLine($"Precision-recall curves written to {png}");
        }
        return ExitCodes.Success;
    }
}
