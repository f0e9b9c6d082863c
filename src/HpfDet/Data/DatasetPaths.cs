namespace HpfDet.Data;

/// <summary>Resolves paths named inside annotation files without letting them leave the dataset folder.</summary>
internal static class DatasetPaths
{
    /// <summary>
    /// <paramref name="relative"/> resolved under <paramref name="root"/>, or null when it is rooted or
    /// climbs out of it (a file written as "../../etc/passwd" must not be read).
    /// </summary>
    public static string? ResolveInside(string root, string relative)
    {
        if (string.IsNullOrWhiteSpace(relative) || Path.IsPathRooted(relative)) return null;
        var fullRoot = Path.GetFullPath(root);
        var full = Path.GetFullPath(Path.Combine(fullRoot, relative));
        var rootWithSep = fullRoot.EndsWith(Path.DirectorySeparatorChar) ? fullRoot : fullRoot + Path.DirectorySeparatorChar;
        return full.StartsWith(rootWithSep, StringComparison.Ordinal) ? full : null;
    }
}
