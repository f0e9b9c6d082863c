using System.Text.Json;
using System.Text.RegularExpressions;

namespace HpfDet.Visualization;

/// <summary>A run folder of a comparison: GROUP-seedN, GROUP being the loss (or MODEL-LOSS with several models).</summary>
/// <param name="Completed">The run trained to its end (it holds the <see cref="CompareFolder.CompletedMarker"/> file).</param>
public sealed record CompareRunFolder(string Group, int Seed, string Dir, bool Completed);

/// <summary>
/// Reads what <c>hpfdet compare</c> leaves in its folder: the run folders, each run's final evaluation
/// (eval/final.json) and its evaluations after each evaluated epoch (eval/epoch_NNN.json).
/// </summary>
public static partial class CompareFolder
{
    /// <summary>Written into a run folder when training ran to its end (an interrupted run also leaves eval/final.json).</summary>
    public const string CompletedMarker = "completed";

    [GeneratedRegex(@"^(?<group>.+)-seed(?<seed>\d{1,9})$")]
    private static partial Regex RunFolderName();

    [GeneratedRegex(@"^epoch_(?<epoch>\d{1,9})\.json$")]
    private static partial Regex EpochFileName();

    /// <summary>The GROUP-seedN folders directly under <paramref name="compareDir"/>, by group then seed.</summary>
    public static IReadOnlyList<CompareRunFolder> List(string compareDir) =>
        Directory.GetDirectories(compareDir)
            .Select(dir => (Dir: dir, Match: RunFolderName().Match(Path.GetFileName(dir))))
            .Where(x => x.Match.Success)
            .Select(x => new CompareRunFolder(x.Match.Groups["group"].Value, int.Parse(x.Match.Groups["seed"].Value, System.Globalization.CultureInfo.InvariantCulture),
                x.Dir, File.Exists(Path.Combine(x.Dir, CompletedMarker))))
            .OrderBy(r => r.Group, StringComparer.Ordinal).ThenBy(r => r.Seed)
            .ToList();

    /// <summary>The final evaluation of the run in <paramref name="runDir"/> (eval/final.json).</summary>
    public static CompareRun ReadRun(string group, int seed, string runDir)
    {
        var finalJson = Path.Combine(runDir, "eval", "final.json");
        if (!File.Exists(finalJson))
            throw new HpfDetException($"{runDir} has no evaluation (eval/final.json): the validation split may be empty.");
        return ReadEvaluationFile(finalJson, root =>
        {
            var perCategory = root.GetProperty("per_category").EnumerateArray().ToArray();
            return new CompareRun(group, seed, runDir, Numbers(root.GetProperty("stats")),
                perCategory.Select(c => Numbers(c.GetProperty("stats"))[0]).ToArray(),
                perCategory.Select(c => c.GetProperty("name").GetString() ?? "").ToArray(),
                root.TryGetProperty("voc_map50", out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : double.NaN);
        });
    }

    /// <summary>
    /// The 12 COCO numbers after each evaluated epoch, from eval/epoch_NNN.json, by epoch; empty when the
    /// run has none (an evaluation interval longer than the training, or no eval folder).
    /// </summary>
    public static SortedDictionary<int, double[]> ReadEpochStats(string runDir)
    {
        var result = new SortedDictionary<int, double[]>();
        var evalDir = Path.Combine(runDir, "eval");
        if (!Directory.Exists(evalDir)) return result;
        foreach (var file in Directory.GetFiles(evalDir, "epoch_*.json"))
        {
            var match = EpochFileName().Match(Path.GetFileName(file));
            if (!match.Success) continue;
            result[int.Parse(match.Groups["epoch"].Value, System.Globalization.CultureInfo.InvariantCulture)] =
                ReadEvaluationFile(file, root => Numbers(root.GetProperty("stats")));
        }
        return result;
    }

    /// <summary>-1 (COCO's undefined) for an entry that is not a number.</summary>
    static double[] Numbers(JsonElement e) => e.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.Number ? v.GetDouble() : -1).ToArray();

    static T ReadEvaluationFile<T>(string path, Func<JsonElement, T> read)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            return read(doc.RootElement);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new HpfDetException($"{path}: not an evaluation file of hpfdet ({e.Message}); expected {{\"stats\": [12 numbers], \"per_category\": [...]}}. Re-run the evaluation of that run, or remove the file.", e);
        }
    }
}
