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
    public static readonly Option<FileInfo?> GtOption = new("--gt") { Description = "COCO ground-truth JSON (images, annotations, categories)." };
    public static readonly Option<FileInfo?> ResultsOption = new("--results") { Description = "COCO results JSON: [{image_id, category_id, bbox: [x, y, w, h], score}]." };
    public static readonly Option<FileInfo?> JsonOption = new("--json") { Description = "Write the metrics to this JSON file." };
    public static readonly Option<DirectoryInfo?> PlotsOption = new("--plots") { Description = "Write precision-recall curves (pr_curves.png) to this folder." };

    public static Command Create()
    {
        var cmd = new Command("eval", "Evaluate detections: COCO AP/AR exactly as pycocotools computes them, plus Pascal VOC mAP@0.5.");
        cmd.Options.Add(GtOption);
        cmd.Options.Add(ResultsOption);
        cmd.Options.Add(JsonOption);
        cmd.Options.Add(PlotsOption);
        cmd.Validators.Add(r =>
        {
            var hasGt = r.GetResult(GtOption) is not null;
            var hasResults = r.GetResult(ResultsOption) is not null;
            if (hasGt != hasResults)
                r.AddError("--gt and --results go together: give both to evaluate a results file.");
            else if (!hasGt)
                r.AddError("Nothing to evaluate: give --gt GT.json --results DT.json.");
        });
        cmd.SetAction(parse =>
        {
            var gt = parse.GetValue(GtOption)!;
            var results = parse.GetValue(ResultsOption)!;
            return RunFileEvaluation(gt.FullName, results.FullName, parse.GetValue(JsonOption)?.FullName, parse.GetValue(PlotsOption)?.FullName, Console.Out);
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
        var voc = VocEvaluator.Evaluate(gt, dts);
        var evalSeconds = clock.Elapsed.TotalSeconds - loadSeconds;

        foreach (var w in result.Input.Warnings) output.WriteLine($"warning: {w}");
        output.WriteLine($"Evaluated {result.Input.DetectionsEvaluated} detections on {result.Input.Images} images, " +
            $"{result.Input.Categories} categories, {result.Input.GroundTruthBoxes} ground-truth boxes " +
            $"(load {loadSeconds:0.00} s, evaluate {evalSeconds:0.00} s).");
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
