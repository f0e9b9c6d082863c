using System.Text.Json;
using HpfDet.Tests.Infrastructure;

namespace HpfDet.Tests.Losses;

/// <summary>Reads every loss case in the oracle folder (losses/*.json), whatever their number.</summary>
public static class LossOracleCases
{
    public static string Folder => Path.Combine(TestPaths.OracleDir, "losses");

    /// <summary>File names of the cases of one kind, for xunit theories.</summary>
    public static TheoryData<string> OfKind(string kind)
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.GetFiles(Folder, "*.json").OrderBy(f => f, StringComparer.Ordinal))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(file));
            if (doc.RootElement.GetProperty("kind").GetString() == kind) data.Add(Path.GetFileName(file));
        }
        return data;
    }

    public static JsonDocument Load(string fileName) => JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, fileName)));

    public static double[] Flat(JsonElement e)
    {
        var list = new List<double>();
        void Walk(JsonElement x)
        {
            if (x.ValueKind == JsonValueKind.Array) foreach (var c in x.EnumerateArray()) Walk(c);
            else list.Add(x.GetDouble());
        }
        Walk(e);
        return list.ToArray();
    }

    public static long[] FlatLong(JsonElement e) => Flat(e).Select(v => (long)v).ToArray();

    public static int Rows(JsonElement matrix) => matrix.GetArrayLength();

    public static bool TryGet(JsonElement e, string name, out JsonElement value) => e.TryGetProperty(name, out value) && value.ValueKind != JsonValueKind.Null;
}
