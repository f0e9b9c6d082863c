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
/// Where a training process started (or resumed) writing the log ("type": "run"): what a run needs to repeat
/// exactly besides its config.yaml — a run repeats bit for bit only at the same seed and torch thread count, on
/// a CPU with the same instruction sets.
/// </summary>
/// <param name="Iteration">Global iteration the process starts after (0 for a fresh run; a resumed run's checkpoint).</param>
/// <param name="TorchThreads">libtorch's intra-op threads (OMP_NUM_THREADS or the cores).</param>
/// <param name="Precision">Training precision (fp32 or bf16).</param>
/// <param name="Version">HpfDet's version.</param>
/// <param name="Started">Wall-clock start, UTC.</param>
/// <param name="Cpu">The CPU's model and vector instruction sets (<see cref="CpuFeatures.Describe"/>), which choose
/// libtorch's kernels and so the summation order; null where unknown and in logs written before it was recorded.</param>
public sealed record RunStartLog(int Iteration, int TorchThreads, string Precision, string Version, DateTimeOffset Started, string? Cpu = null)
{
    public string Type => "run";
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

/// <summary>
/// Reads and writes log.jsonl. Undefined numbers (NaN, Inf) are written as null. A finished run kept as a
/// record may hold its log gzip-compressed as log.jsonl.gz (about a fifth of the size); readers take either.
/// </summary>
public static class TrainingLogJson
{
    /// <summary>The log a training writes into its run folder.</summary>
    public const string FileName = "log.jsonl";
    /// <summary>The same log, gzip-compressed, as <see cref="Compress"/> leaves it.</summary>
    public const string CompressedFileName = FileName + ".gz";

    /// <summary>The run folder's log, plain or compressed (the plain one when both exist); null when it has none.</summary>
    public static string? Find(string runDir)
    {
        var plain = Path.Combine(runDir, FileName);
        if (File.Exists(plain)) return plain;
        var compressed = Path.Combine(runDir, CompressedFileName);
        return File.Exists(compressed) ? compressed : null;
    }

    /// <summary>
    /// Replaces the log at <paramref name="path"/> by its gzip-compressed copy (PATH.gz, written to a temporary
    /// file and moved into place, then read back and compared line by line before the plain log is deleted).
    /// Returns the compressed file's path.
    /// </summary>
    public static string Compress(string path)
    {
        var target = path + ".gz";
        var tmp = target + ".tmp";
        try
        {
            using (var input = File.OpenRead(path))
            using (var output = File.Create(tmp))
            using (var gzip = new System.IO.Compression.GZipStream(output, System.IO.Compression.CompressionLevel.SmallestSize))
                input.CopyTo(gzip);
            if (!File.ReadLines(path).SequenceEqual(ReadLines(tmp, compressed: true)))
                throw new HpfDetException($"{path}: its compressed copy does not read back the same; the plain log is kept.");
            File.Move(tmp, target, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
        File.Delete(path);
        return target;
    }

    static IEnumerable<string> ReadLines(string path, bool compressed) => compressed ? ReadGzipLines(path) : File.ReadLines(path);

    static IEnumerable<string> ReadGzipLines(string path)
    {
        using var stream = new System.IO.Compression.GZipStream(File.OpenRead(path), System.IO.Compression.CompressionMode.Decompress);
        using var reader = new StreamReader(stream);
        while (reader.ReadLine() is { } line) yield return line;
    }

    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new NullableNumberConverter() },
    };

    public static string ToLine(IterationLog log) => JsonSerializer.Serialize(log, Options);
    public static string ToLine(EvaluationLog log) => JsonSerializer.Serialize(log, Options);
    public static string ToLine(RunStartLog log) => JsonSerializer.Serialize(log, Options);

    /// <summary>The "run" lines of a log (plain or .gz), in order: one per process that trained the run; empty for logs written before they existed.</summary>
    public static List<RunStartLog> ReadRunStarts(string path) => ReadAll(path).RunStarts;

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

    /// <summary>
    /// Reads a log.jsonl file, or its compressed form (a path ending in .gz, or a log.jsonl that exists only
    /// as log.jsonl.gz); lines of unknown type are skipped; null numbers read as NaN.
    /// </summary>
    public static (List<IterationLog> Iterations, List<EvaluationLog> Evaluations) Read(string path)
    {
        var all = ReadAll(path);
        return (all.Iterations, all.Evaluations);
    }

    static (List<IterationLog> Iterations, List<EvaluationLog> Evaluations, List<RunStartLog> RunStarts) ReadAll(string path)
    {
        if (!File.Exists(path) && File.Exists(path + ".gz")) path += ".gz";
        var iterations = new List<IterationLog>();
        var evaluations = new List<EvaluationLog>();
        var runStarts = new List<RunStartLog>();
        int lineNo = 0;
        IEnumerable<string> lines;
        try { lines = ReadLines(path, path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)).ToList(); }
        catch (InvalidDataException e) { throw new HpfDetException($"{path}: not a gzip file ({e.Message}); a compressed log is written by 'hpfdet compare' as log.jsonl.gz.", e); }
        foreach (var line in lines)
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                using var doc = JsonDocument.Parse(line);
                var type = doc.RootElement.TryGetProperty("type", out var t) ? t.GetString() : null;
                if (type == "iter") iterations.Add(doc.RootElement.Deserialize<IterationLog>(Options)!);
                else if (type == "eval") evaluations.Add(doc.RootElement.Deserialize<EvaluationLog>(Options)!);
                else if (type == "run") runStarts.Add(doc.RootElement.Deserialize<RunStartLog>(Options)!);
            }
            catch (JsonException e)
            {
                throw new HpfDetException($"{path}, line {lineNo}: not a valid log entry ({e.Message}). The file may have been cut by a crash: delete the last line and retry.", e);
            }
        }
        return (iterations, evaluations, runStarts);
    }
}
