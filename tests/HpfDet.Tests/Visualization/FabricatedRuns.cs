using System.Globalization;
using HpfDet.Training;

namespace HpfDet.Tests.Visualization;

/// <summary>
/// Run folders as 'hpfdet compare' leaves them, made by hand: eval/epoch_NNN.json and eval/final.json in the
/// shape EvaluationReport.WriteJson writes, the 'completed' marker, and optionally a log.jsonl.
/// </summary>
static class FabricatedRuns
{
    /// <summary>The 12 COCO numbers for an AP: AP50 = AP + 0.2, AP75 = AP + 0.05, APs undefined (-1).</summary>
    public static double[] Stats(double ap) => [ap, ap + 0.2, ap + 0.05, -1, ap - 0.01, ap + 0.01, 0.3, 0.4, 0.5, -1, 0.3, 0.6];

    /// <summary>
    /// DIR/LOSS-seedN with an evaluation per entry of <paramref name="apByEpoch"/> (epoch → AP) and final.json
    /// a copy of the last; marked completed with the last iteration (10 per epoch) when <paramref name="completed"/>.
    /// </summary>
    public static string Write(string compareDir, string loss, int seed, IReadOnlyDictionary<int, double> apByEpoch, bool completed = true, bool withLog = false)
    {
        var runDir = Path.Combine(compareDir, $"{loss}-seed{seed}");
        var evalDir = Path.Combine(runDir, "eval");
        Directory.CreateDirectory(evalDir);
        foreach (var (epoch, ap) in apByEpoch)
            File.WriteAllText(Path.Combine(evalDir, $"epoch_{epoch:D3}.json"), EvaluationJson(ap));
        var last = apByEpoch.Keys.Max();
        File.Copy(Path.Combine(evalDir, $"epoch_{last:D3}.json"), Path.Combine(evalDir, "final.json"));
        if (withLog)
            File.WriteAllLines(Path.Combine(runDir, "log.jsonl"), VisualizationTestLogs.Iterations(last * 10).Select(TrainingLogJson.ToLine));
        if (completed) File.WriteAllText(Path.Combine(runDir, "completed"), $"{last * 10}\n");
        return runDir;
    }

    static string Number(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    static string Array(double[] values) => "[\n    " + string.Join(",\n    ", values.Select(Number)) + "\n  ]";

    /// <summary>The JSON of one evaluation, as in results/vehicles/fl-seed0/eval/epoch_004.json (two classes).</summary>
    static string EvaluationJson(double ap) =>
        "{\n  \"stats\": " + Array(Stats(ap)) + ",\n  \"per_category\": [\n" +
        "    {\n      \"category_id\": 1,\n      \"name\": \"Car\",\n      \"stats\": " + Array(Stats(ap)) + ",\n      \"voc_ap50\": " + Number(ap + 0.2) + "\n    },\n" +
        "    {\n      \"category_id\": 2,\n      \"name\": \"Bus\",\n      \"stats\": " + Array(Stats(ap)) + ",\n      \"voc_ap50\": " + Number(ap + 0.2) + "\n    }\n  ],\n" +
        "  \"voc_map50\": " + Number(ap + 0.2) + "\n}\n";
}
