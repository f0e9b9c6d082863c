using System.CommandLine;
using System.Diagnostics;
using HpfDet.Evaluation;

namespace HpfDet.Cli.Commands;

/// <summary>
/// `hpfdet eval`: COCO (pycocotools-identical) and VOC mAP@0.5 evaluation. File form:
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
        var cmd = new Command("eval", "Evaluate detections: COCO AP/AR exactly as pycocotools computes them, plus Pascal VOC mAP@0.5.");
        cmd.Options.Add(gtOption);
        cmd.Options.Add(resultsOption);
        cmd.Options.Add(jsonOption);
        cmd.Options.Add(plotsOption);
        cmd.Validators.Add(r =>
        {
            var hasGt = r.GetResult(gtOption) is not null;
            var hasResults = r.GetResult(resultsOption) is not null;
            if (hasGt != hasResults)
                r.AddError("--gt and --results go together: give both to evaluate a results file.");
            else if (!hasGt)
                r.AddError("Nothing to evaluate: give --gt GT.json --results DT.json.");
        });
        cmd.SetAction(parse =>
        {
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
