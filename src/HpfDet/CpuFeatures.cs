namespace HpfDet;

/// <summary>
/// What the CPU is and whether it has bfloat16 arithmetic units, from /proc/cpuinfo. libtorch's oneDNN runs
/// bfloat16 convolutions on AVX512-BF16 or AMX-BF16; the bf16 option (train.precision: bf16, --precision bf16)
/// is there for such CPUs. Without them it is much slower than float32 (docs/benchmarks.md: an AVX2-only CPU's
/// bf16 training step took 13× as long).
/// </summary>
public static class CpuFeatures
{
    static readonly Lazy<string?> cpuinfo = new(() =>
    {
        try
        {
            return File.Exists("/proc/cpuinfo") ? File.ReadAllText("/proc/cpuinfo") : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    });

    /// <summary>Whether this CPU has AVX512-BF16 or AMX-BF16; null where that cannot be read (no /proc/cpuinfo).</summary>
    public static bool? HasBFloat16Units => cpuinfo.Value is { } text ? ListsBFloat16Units(text) : null;

    /// <summary>This CPU's model and vector instruction sets (see <see cref="Describe"/>); null where /proc/cpuinfo cannot be read.</summary>
    public static string? Current => cpuinfo.Value is { } text ? Describe(text) : null;

    /// <summary>Whether the first <c>flags</c> line of a /proc/cpuinfo text lists avx512_bf16 or amx_bf16.</summary>
    public static bool ListsBFloat16Units(string cpuinfo)
    {
        var flags = Flags(cpuinfo);
        return flags.Contains("avx512_bf16") || flags.Contains("amx_bf16");
    }

    // The instruction sets that decide which libtorch/oneDNN kernels run, and so a run's summation order.
    static readonly string[] VectorFlags = ["avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16"];

    /// <summary>
    /// "model name; vector instruction sets" of the first processor of a /proc/cpuinfo text, e.g.
    /// "AMD EPYC 9654 96-Core Processor; avx2, avx512f, avx512_bf16": a run repeats exactly only on the same kernels.
    /// </summary>
    public static string Describe(string cpuinfo)
    {
        var flags = Flags(cpuinfo);
        string model = Field(cpuinfo, "model name") ?? "unknown CPU";
        var vector = VectorFlags.Where(flags.Contains).ToArray();
        return $"{model}; {(vector.Length > 0 ? string.Join(", ", vector) : "no AVX2")}";
    }

    static HashSet<string> Flags(string cpuinfo) =>
        (Field(cpuinfo, "flags") ?? "").Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries).ToHashSet();

    /// <summary>The value of the first "key : value" line whose key is <paramref name="key"/> (not "vmx flags" for "flags").</summary>
    static string? Field(string cpuinfo, string key)
    {
        foreach (var line in cpuinfo.Split('\n'))
        {
            int colon = line.IndexOf(':');
            if (colon >= 0 && line[..colon].Trim() == key) return line[(colon + 1)..].Trim();
        }
        return null;
    }

    /// <summary>The warning for bfloat16 compute on a CPU known to lack bfloat16 units; null when none is due.</summary>
    /// <param name="setting">The setting that asked for bfloat16, as the user wrote it.</param>
    public static string? BFloat16Warning(string setting) => BFloat16Warning(setting, HasBFloat16Units);

    /// <inheritdoc cref="BFloat16Warning(string)"/>
    /// <param name="hasUnits">Whether the CPU has bfloat16 units (null: unknown, no warning).</param>
    public static string? BFloat16Warning(string setting, bool? hasUnits) => hasUnits == false
        ? $"warning: {setting}: this CPU lists neither avx512_bf16 nor amx_bf16 in /proc/cpuinfo, so libtorch cannot run its " +
          "bfloat16 convolutions on bfloat16 units and bf16 is much slower than fp32 here (on an AVX2-only CPU a training step " +
          "took 13 times as long, inference twice); use fp32 on this CPU."
        : null;
}
