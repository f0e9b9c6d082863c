namespace HpfDet;

/// <summary>
/// Whether the CPU has bfloat16 arithmetic units. libtorch's oneDNN runs bfloat16 convolutions on AVX512-BF16
/// or AMX-BF16; the bf16 option (train.precision: bf16, --precision bf16) is there for such CPUs. Without them
/// it is much slower than float32 (docs/benchmarks.md: an AVX2-only CPU's bf16 training step took 13× as long).
/// </summary>
public static class CpuFeatures
{
    static readonly Lazy<bool?> bfloat16Units = new(() =>
    {
        try
        {
            return File.Exists("/proc/cpuinfo") ? ListsBFloat16Units(File.ReadAllText("/proc/cpuinfo")) : null;
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
    public static bool? HasBFloat16Units => bfloat16Units.Value;

    /// <summary>Whether the first <c>flags</c> line of a /proc/cpuinfo text lists avx512_bf16 or amx_bf16.</summary>
    public static bool ListsBFloat16Units(string cpuinfo)
    {
        foreach (var line in cpuinfo.Split('\n'))
        {
            int colon = line.IndexOf(':');
            if (colon < 0 || line[..colon].Trim() != "flags") continue;
            var flags = line[(colon + 1)..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            return flags.Contains("avx512_bf16") || flags.Contains("amx_bf16");
        }
        return false;
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
