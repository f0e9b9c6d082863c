using SkiaSharp;

namespace HpfDet.Visualization;

/// <summary>
/// The typeface for box labels. SkiaSharp's Linux "NoDependencies" build has no fontconfig, so the
/// default typeface can come without glyphs; a sans font file from the usual font folders is then
/// loaded directly. No font is bundled.
/// </summary>
internal static class DrawingFonts
{
    static readonly Lazy<SKTypeface> Resolved = new(Resolve);

    public static SKTypeface Sans => Resolved.Value;

    /// <summary>Where the typeface came from, for diagnostics: a family name, a file, or "SkiaSharp default".</summary>
    public static string Source { get; private set; } = "";

    static SKTypeface Resolve()
    {
        foreach (var family in new[] { "DejaVu Sans", "Liberation Sans", "Noto Sans", "Arial", "Helvetica" })
        {
            var typeface = SKFontManager.Default.MatchFamily(family);
            if (typeface != null && typeface.GlyphCount > 0 && typeface.FamilyName == family)
            {
                Source = family;
                return typeface;
            }
            typeface?.Dispose();
        }
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        string[] folders = ["/usr/share/fonts", "/usr/local/share/fonts", Path.Combine(home, ".fonts"), Path.Combine(home, ".local/share/fonts")];
        var files = folders.Where(Directory.Exists)
            .SelectMany(d => SafeEnumerate(d))
            // Prefer a regular sans face; any readable font beats none.
            .OrderBy(f => Path.GetFileName(f).Contains("Sans", StringComparison.OrdinalIgnoreCase) ? 0 : 1)
            .ThenBy(f => Path.GetFileNameWithoutExtension(f).Contains('-') ? 1 : 0)
            .ThenBy(f => f, StringComparer.Ordinal);
        foreach (var file in files)
        {
            var typeface = SKTypeface.FromFile(file);
            if (typeface != null && typeface.GlyphCount > 0)
            {
                Source = file;
                return typeface;
            }
            typeface?.Dispose();
        }
        Source = "SkiaSharp default";
        return SKTypeface.Default;
    }

    static IEnumerable<string> SafeEnumerate(string dir)
    {
        try
        {
            return Directory.EnumerateFiles(dir, "*.*", SearchOption.AllDirectories)
                .Where(f => f.EndsWith(".ttf", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".otf", StringComparison.OrdinalIgnoreCase))
                .ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return []; }
    }
}
