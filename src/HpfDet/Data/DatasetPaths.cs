namespace HpfDet.Data;

/// <summary>Resolves paths named inside annotation files without letting them leave the dataset folder.</summary>
internal static class DatasetPaths
{
    /// <summary>
    /// <paramref name="relative"/> resolved under <paramref name="root"/>, or null when it is rooted or
    /// climbs out of it (a file written as "../../etc/passwd" must not be read). Lexical only: see
    /// <see cref="LeavesRoot"/> for symbolic links.
    /// </summary>
    public static string? ResolveInside(string root, string relative)
    {
        if (string.IsNullOrWhiteSpace(relative) || Path.IsPathRooted(relative)) return null;
        var fullRoot = Path.GetFullPath(root);
        var full = Path.GetFullPath(Path.Combine(fullRoot, relative));
        return IsInside(fullRoot, full) ? full : null;
    }

    /// <summary>True when <paramref name="path"/> is <paramref name="root"/> or lies under it (both full paths, compared as written).</summary>
    public static bool IsInside(string root, string path)
    {
        var rootWithSep = root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar;
        return path == root || path == rootWithSep || path.StartsWith(rootWithSep, StringComparison.Ordinal);
    }

    /// <summary>
    /// True when <paramref name="path"/>, with every symbolic link along it followed, lies outside the
    /// real location of <paramref name="root"/> (a label linked to /etc/passwd, an image folder linked
    /// elsewhere); also true for a link loop. A path that does not exist is judged by its existing part.
    /// </summary>
    public static bool LeavesRoot(string root, string path)
    {
        var realRoot = RealPath(Path.GetFullPath(root));
        var real = RealPath(Path.GetFullPath(path));
        return realRoot == null || real == null || !IsInside(realRoot, real);
    }

    /// <summary>The path with every symbolic link resolved (like realpath(3)); null on a link loop or an unreadable link.</summary>
    public static string? RealPath(string fullPath)
    {
        var pending = new Stack<string>(fullPath.Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries).Reverse());
        var current = Path.GetPathRoot(fullPath) ?? "/";
        var hops = 0;
        while (pending.Count > 0)
        {
            var part = pending.Pop();
            if (part == ".") continue;
            if (part == "..") { current = Path.GetDirectoryName(current) ?? current; continue; }
            var next = Path.Combine(current, part);
            string? target;
            try { target = new FileInfo(next).LinkTarget; }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
            if (target == null) { current = next; continue; }
            if (++hops > 40) return null; // a loop, as the kernel's ELOOP
            if (Path.IsPathRooted(target)) current = Path.GetPathRoot(target) ?? "/";
            foreach (var p in target.Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries).Reverse()) pending.Push(p);
        }
        return current;
    }
}
