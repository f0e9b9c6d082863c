using System.Text;
using System.Text.Json;

namespace HpfDet.Evaluation;

/// <summary>Which entry of a COCO file a field belongs to (e.g. annotations[12]); formatted only when an error is reported.</summary>
internal readonly record struct JsonPlace(string? Array, int Index)
{
    public string Name(string field) => Array is null ? $"field '{field}'" : $"{Array}[{Index}].{field}";
}

/// <summary>Small helpers shared by the COCO JSON readers: typed field reads and error locations.</summary>
internal static class CocoJson
{
    /// <summary>1-based line of a byte offset, computed only when an error is reported.</summary>
    public static long LineOf(ReadOnlySpan<byte> json, long byteIndex)
    {
        var end = (int)Math.Min(byteIndex, json.Length);
        return json[..end].Count((byte)'\n') + 1;
    }

    public static HpfDetException Error(string source, ReadOnlySpan<byte> json, long byteIndex, string what, string todo) =>
        new($"{source}, line {LineOf(json, byteIndex)}: {what}. {todo}");

    /// <summary>Reads a number token (integer or float) as double.</summary>
    public static double ReadDouble(ref Utf8JsonReader r, string source, ReadOnlySpan<byte> json, string field, JsonPlace place = default)
    {
        r.Read();
        if (r.TokenType != JsonTokenType.Number)
            throw Error(source, json, r.TokenStartIndex, $"{place.Name(field)} must be a number, found {r.TokenType}", "Fix the value in the file.");
        if (!r.TryGetDouble(out var d) || !double.IsFinite(d))
            throw Error(source, json, r.TokenStartIndex, $"{place.Name(field)} is out of the range of a double", "Fix the value in the file.");
        return d;
    }

    /// <summary>Reads an integer id (a float with an integral value such as 3.0 is accepted).</summary>
    public static long ReadId(ref Utf8JsonReader r, string source, ReadOnlySpan<byte> json, string field, JsonPlace place = default)
    {
        r.Read();
        if (r.TokenType != JsonTokenType.Number)
            throw Error(source, json, r.TokenStartIndex, $"{place.Name(field)} must be an integer, found {r.TokenType}", "Fix the value in the file.");
        if (r.TryGetInt64(out var v)) return v;
        if (r.TryGetDouble(out var d) && d == Math.Floor(d) && Math.Abs(d) < 9e15) return (long)d;
        throw Error(source, json, r.TokenStartIndex, $"{place.Name(field)} must be a 64-bit integer, found {Encoding.UTF8.GetString(r.ValueSpan)}", "Fix the value in the file.");
    }

    /// <summary>Reads 0/1, true/false or null (null = false) as a flag.</summary>
    public static bool ReadFlag(ref Utf8JsonReader r, string source, ReadOnlySpan<byte> json, string field, JsonPlace place = default)
    {
        r.Read();
        return r.TokenType switch
        {
            JsonTokenType.True => true,
            JsonTokenType.False or JsonTokenType.Null => false,
            JsonTokenType.Number => !r.TryGetDouble(out var d) || d != 0,
            _ => throw Error(source, json, r.TokenStartIndex, $"{place.Name(field)} must be 0/1 or true/false, found {r.TokenType}", "Fix the value in the file."),
        };
    }

    /// <summary>Reads [x, y, w, h].</summary>
    public static void ReadBox(ref Utf8JsonReader r, string source, ReadOnlySpan<byte> json, out double x, out double y, out double w, out double h, JsonPlace place = default)
    {
        r.Read();
        var start = r.TokenStartIndex;
        Span<double> v = stackalloc double[4];
        var n = 0;
        if (r.TokenType == JsonTokenType.StartArray)
        {
            while (r.Read() && r.TokenType != JsonTokenType.EndArray)
            {
                if (r.TokenType != JsonTokenType.Number || n == 4 || !r.TryGetDouble(out v[n]) || !double.IsFinite(v[n])) { n = -1; break; }
                n++;
            }
        }
        if (n != 4)
            throw Error(source, json, start, $"{place.Name("bbox")} must be an array of 4 finite numbers [x, y, width, height]", "Fix the box in the file.");
        x = v[0]; y = v[1]; w = v[2]; h = v[3];
    }

    public static string? ReadStringOrNull(ref Utf8JsonReader r)
    {
        r.Read();
        return r.TokenType == JsonTokenType.String ? r.GetString() : SkipValue(ref r);
    }

    static string? SkipValue(ref Utf8JsonReader r)
    {
        r.Skip();
        return null;
    }

    public static byte[] ReadFile(string path, string what)
    {
        if (!File.Exists(path))
            throw new HpfDetException($"{what} file '{path}' not found. Check the path.");
        return File.ReadAllBytes(path);
    }

    /// <summary>Wraps a JSON syntax error with the file name, line and a hint.</summary>
    public static HpfDetException SyntaxError(string source, JsonException e) =>
        new($"{source}, line {(e.LineNumber ?? 0) + 1}: invalid JSON ({e.Message}). Fix the file; note that NaN and Infinity are not valid JSON numbers.", e);

    public static string Source(string? path, string fallback) => path is null ? fallback : $"'{path}'";

    public static readonly UTF8Encoding Utf8 = new(false);
}
