namespace HpfDet.Visualization;

/// <summary>
/// PNG names for drawings of input images, one per input, never the same twice: "a.jpg" gives "a.png";
/// a later "a.png" (or "a.jpeg") in the same folder gives "a_png.png" instead of overwriting it.
/// </summary>
public sealed class DrawingFileNames
{
    readonly HashSet<string> used = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The PNG file name for the drawing of <paramref name="inputFileName"/>.</summary>
    public string PngFor(string inputFileName)
    {
        var stem = Path.GetFileNameWithoutExtension(inputFileName);
        var extension = Path.GetExtension(inputFileName).TrimStart('.');
        var name = stem + ".png";
        if (used.Add(name)) return name;
        var withExtension = extension.Length > 0 ? $"{stem}_{extension}" : stem;
        name = withExtension + ".png";
        for (int n = 2; !used.Add(name); n++) name = $"{withExtension}_{n}.png";
        return name;
    }
}
