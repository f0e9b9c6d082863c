namespace HpfDet.Data;

/// <summary>Text files listing one entry a line (VOC split files, class lists, YOLO image lists).</summary>
internal static class ListFile
{
    /// <summary>The trimmed entries with their 1-based line numbers; blank lines and '#' comments are skipped.</summary>
    public static IEnumerable<(int Line, string Text)> Entries(string path)
    {
        var lineNumber = 0;
        foreach (var raw in File.ReadLines(path))
        {
            lineNumber++;
            var text = raw.Trim();
            if (text.Length > 0 && !text.StartsWith('#')) yield return (lineNumber, text);
        }
    }
}
