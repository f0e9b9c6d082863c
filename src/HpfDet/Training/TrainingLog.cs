using System.Text.Json;
using System.Text.Json.Serialization;

namespace HpfDet.Training;

/// <summary>One training iteration, as written to log.jsonl (one JSON object per line, "type": "iter").</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="Iteration">1-based global iteration.</param>
/// <param name="EpochIteration">1-based iteration within the epoch.</param>
/// <param name="IterationsPerEpoch">Iterations in one epoch.</param>
/// <param name="Loss">Total loss.</param>
/// <param name="Losses">Each loss term by name, as the detector names them ("classification" first, then e.g. "box", "centerness").</param>
/// <param name="LearningRate">Learning rate used for this step.</param>
/// <param name="Gamma">Per-level γ used by the classification loss (P3..P7).</param>
/// <param name="Alpha">Per-level α.</param>
/// <param name="Positives">Per-level positive anchors of the batch.</param>
/// <param name="MeanNegLogP">Per-level mean -log p of the positives' target class (NaN where none).</param>
/// <param name="ImagesPerSecond">Throughput of this step.</param>
/// <param name="ResidentMemoryBytes">Process resident memory after the step.</param>
/// <param name="LiveTensors">TorchSharp tensors alive in the process after the step, on every thread, less the data loader's undisposed batches (leak check: flat across iterations).</param>
/// <param name="GradNorm">Total gradient norm before clipping, where computed.</param>
public sealed record IterationLog(
    int Epoch, int Iteration, int EpochIteration, int IterationsPerEpoch,
    double Loss, IReadOnlyDictionary<string, double> Losses, double LearningRate,
    double[] Gamma, double[] Alpha, long[] Positives, double[] MeanNegLogP,
    double ImagesPerSecond, long ResidentMemoryBytes, long LiveTensors, double? GradNorm)
{
    public string Type => "iter";
}

/// <summary>One evaluation on the validation split ("type": "eval").</summary>
/// <param name="Epoch">1-based epoch after which it ran.</param>
/// <param name="Iteration">Global iteration at that point.</param>
/// <param name="Stats">The 12 COCO numbers (AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl).</param>
/// <param name="PerClassAP">AP per class (same order as the class names), -1 where undefined.</param>
/// <param name="VocMap50">Pascal VOC mAP@0.5.</param>
/// <param name="Seconds">Evaluation time (inference + matching).</param>
public sealed record EvaluationLog(int Epoch, int Iteration, double[] Stats, double[] PerClassAP, double VocMap50, double Seconds)
{
    public string Type => "eval";
}

/// <summary>
/// A number that may be undefined (NaN or ±Inf, e.g. a level's mean -log p without positives): written as
/// JSON null, which every JSON reader accepts, and read back from null (or the strings "NaN",
/// "Infinity", "-Infinity" of older logs) as NaN or ±Inf.
/// </summary>
public sealed class NullableNumberConverter : JsonConverter<double>
{
    public override bool HandleNull => true;

    public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.TokenType switch
    {
        JsonTokenType.Null => double.NaN,
        JsonTokenType.Number => reader.GetDouble(),
        JsonTokenType.String => reader.GetString() switch
        {
            "NaN" => double.NaN,
            "Infinity" => double.PositiveInfinity,
            "-Infinity" => double.NegativeInfinity,
            var text => throw new JsonException($"'{text}' is not a number"),
        },
        _ => throw new JsonException($"expected a number or null, found {reader.TokenType}"),
    };

    public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options)
    {
        if (double.IsFinite(value)) writer.WriteNumberValue(value);
        else writer.WriteNullValue();
    }
}

/// <summary>Reads and writes log.jsonl. Undefined numbers (NaN, Inf) are written as null.</summary>
public static class TrainingLogJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new NullableNumberConverter() },
    };

    public static string ToLine(IterationLog log) => JsonSerializer.Serialize(log, Options);
    public static string ToLine(EvaluationLog log) => JsonSerializer.Serialize(log, Options);

    /// <summary>
    /// Keeps the lines of iterations up to <paramref name="iteration"/> (and evaluations made by then):
    /// what a run resumed from the checkpoint at that iteration logs again is not kept twice. A line cut by
    /// a crash is dropped. The file is replaced atomically.
    /// </summary>
    public static void TruncateAfter(string path, int iteration)
    {
        var kept = new List<string>();
        bool changed = false;
        foreach (var line in File.ReadLines(path))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            int? at = null;
            try
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("iteration", out var i) && i.TryGetInt32(out var n)) at = n;
            }
            catch (JsonException) { }
            if (at is { } n2 && n2 <= iteration) kept.Add(line);
            else changed = true;
        }
        if (!changed) return;
        var tmp = path + ".tmp";
        File.WriteAllLines(tmp, kept);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Reads a log.jsonl file; lines of unknown type are skipped; null numbers read as NaN.</summary>
    public static (List<IterationLog> Iterations, List<EvaluationLog> Evaluations) Read(string path)
    {
        var iterations = new List<IterationLog>();
        var evaluations = new List<EvaluationLog>();
        int lineNo = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                using var doc = JsonDocument.Parse(line);
                var type = doc.RootElement.TryGetProperty("type", out var t) ? t.GetString() : null;
                if (type == "iter") iterations.Add(doc.RootElement.Deserialize<IterationLog>(Options)!);
                else if (type == "eval") evaluations.Add(doc.RootElement.Deserialize<EvaluationLog>(Options)!);
            }
            catch (JsonException e)
            {
                throw new HpfDetException($"{path}, line {lineNo}: not a valid log entry ({e.Message}). The file may have been cut by a crash: delete the last line and retry.", e);
            }
        }
        return (iterations, evaluations);
    }
}
