namespace HpfDet.Tests.Infrastructure;

/// <summary>Locations of the shared reference data, independent of the test runner's working folder.</summary>
public static class TestPaths
{
    /// <summary>The repository root: the first folder above the test binaries holding HpfDet.slnx.</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>../shared beside the repository.</summary>
    public static string Shared => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));

    /// <summary>The oracle folder: env HPFDET_ORACLE_DIR, else ../shared/oracle.</summary>
    public static string OracleDir
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("HPFDET_ORACLE_DIR");
            var dir = string.IsNullOrWhiteSpace(env) ? Path.Combine(Shared, "oracle") : Path.GetFullPath(env);
            if (!Directory.Exists(dir))
                throw new DirectoryNotFoundException($"Oracle folder '{dir}' not found: set HPFDET_ORACLE_DIR or put shared/ beside the repository.");
            return dir;
        }
    }

    /// <summary>../shared/data/NAME.</summary>
    public static string Data(string name)
    {
        var dir = Path.Combine(Shared, "data", name);
        if (!Directory.Exists(dir))
            throw new DirectoryNotFoundException($"Dataset folder '{dir}' not found: put shared/ beside the repository.");
        return dir;
    }

    static readonly System.Collections.Concurrent.ConcurrentBag<string> TempDirs = [];

    static TestPaths() => AppDomain.CurrentDomain.ProcessExit += (_, _) => DeleteTempDirs();

    /// <summary>
    /// A fresh empty temporary folder. The caller may delete it; whatever is left is deleted when the test
    /// process exits (a full run otherwise leaves gigabytes in the temp folder: the fuzz and CLI tests).
    /// </summary>
    public static string NewTempDir(string prefix = "hpfdet-test")
    {
        var dir = Path.Combine(Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        TempDirs.Add(dir);
        return dir;
    }

    static void DeleteTempDirs()
    {
        foreach (var dir in TempDirs)
        {
            try { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }   // best effort at exit
        }
    }

    static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "HpfDet.slnx"))) return d.FullName;
        throw new InvalidOperationException($"No HpfDet.slnx above {AppContext.BaseDirectory}.");
    }
}
