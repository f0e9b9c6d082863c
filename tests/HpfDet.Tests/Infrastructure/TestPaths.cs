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

    /// <summary>
    /// Where the test temporary folders live: one folder per test process under
    /// TEMP/hpfdet-tests/, named by its process id.
    /// </summary>
    public static string TempRoot { get; } = Path.Combine(Path.GetTempPath(), "hpfdet-tests");

    static readonly string ProcessTempDir = Path.Combine(TempRoot, Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));

    static TestPaths()
    {
        DeleteStaleTempDirs();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => TempDir.Delete(ProcessTempDir);
    }

    /// <summary>
    /// A fresh empty temporary folder, deleted when the returned <see cref="TempDir"/> is disposed:
    /// <c>using var dir = TestPaths.NewTempDir("prefix");</c>. Backstops: whatever is left is deleted when
    /// the test process exits, and a later test process deletes the folders of test processes no longer
    /// running (the test host may be killed before its exit handlers finish).
    /// </summary>
    public static TempDir NewTempDir(string prefix = "hpfdet-test") =>
        new(Path.Combine(ProcessTempDir, $"{prefix}-{Guid.NewGuid():N}"));

    /// <summary>Deletes the folders under <see cref="TempRoot"/> of test processes that are no longer running.</summary>
    static void DeleteStaleTempDirs()
    {
        if (!Directory.Exists(TempRoot)) return;
        foreach (var dir in Directory.EnumerateDirectories(TempRoot))
            if (int.TryParse(Path.GetFileName(dir), out var pid) && pid != Environment.ProcessId && !IsRunning(pid))
                TempDir.Delete(dir);
    }

    static bool IsRunning(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException) { return false; }          // no such process
        catch (InvalidOperationException) { return false; }
    }

    static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "HpfDet.slnx"))) return d.FullName;
        throw new InvalidOperationException($"No HpfDet.slnx above {AppContext.BaseDirectory}.");
    }
}
