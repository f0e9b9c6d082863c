namespace HpfDet.Tests.Infrastructure;

/// <summary>
/// A temporary folder that a test deletes, with everything in it, when it is done:
/// <c>using var dir = TestPaths.NewTempDir("prefix");</c>. It converts to its path, so it goes wherever a
/// folder path is expected (<c>Path.Combine(dir, "a.png")</c>).
/// </summary>
public sealed class TempDir : IDisposable
{
    internal TempDir(string path)
    {
        Path = path;
        Directory.CreateDirectory(path);
    }

    /// <summary>The folder's full path.</summary>
    public string Path { get; }

    public static implicit operator string(TempDir dir) => dir.Path;

    public override string ToString() => Path;

    int subdirs;

    /// <summary>A fresh empty folder inside this one, deleted with it: for helpers that make one folder per call.</summary>
    public string NewSubdir()
    {
        var path = System.IO.Path.Combine(Path, Interlocked.Increment(ref subdirs).ToString(System.Globalization.CultureInfo.InvariantCulture));
        Directory.CreateDirectory(path);
        return path;
    }

    public void Dispose() => Delete(Path);

    /// <summary>
    /// Deletes a folder tree, best effort: a folder a test left without permissions is given them back
    /// first; what still cannot be deleted is left to the process-exit and next-run sweeps.
    /// </summary>
    internal static void Delete(string path)
    {
        for (var attempt = 0; attempt < 2; attempt++)
        {
            try
            {
                if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
                return;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                if (attempt == 0) RestorePermissions(path);
            }
        }
    }

    static void RestorePermissions(string path)
    {
        if (OperatingSystem.IsWindows()) return;
        const UnixFileMode Full = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        try
        {
            var root = new DirectoryInfo(path);
            if (root.LinkTarget is not null) return;
            root.UnixFileMode |= Full;
            foreach (var sub in root.EnumerateDirectories())
                if (sub.LinkTarget is null) RestorePermissions(sub.FullName);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
