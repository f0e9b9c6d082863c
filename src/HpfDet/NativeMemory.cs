using System.Runtime.InteropServices;

namespace HpfDet;

/// <summary>
/// Process-wide tuning of glibc's allocator for tensor workloads. libtorch frees and re-allocates
/// the same multi-megabyte buffers every step; with glibc's defaults each of them is a fresh mmap
/// whose pages fault in again (measured: about a third of the focal-loss step). Serving them from a
/// heap that is not trimmed keeps those pages mapped. An opt-in for applications (the CLI and the
/// benchmarks call it); a no-op elsewhere than glibc on Linux.
/// </summary>
public static class NativeMemory
{
    const int M_TRIM_THRESHOLD = -1, M_TOP_PAD = -2, M_MMAP_THRESHOLD = -3;

    [DllImport("libc", EntryPoint = "mallopt")]
    static extern int Mallopt(int param, int value);

    /// <summary>True when the settings were applied.</summary>
    public static bool TuneAllocatorForTensors()
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            // 32 MiB is glibc's largest mmap threshold; larger buffers are still mapped directly.
            return Mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1
                   & Mallopt(M_TRIM_THRESHOLD, int.MaxValue) == 1
                   & Mallopt(M_TOP_PAD, 256 << 20) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;   // not glibc (e.g. musl): keep the defaults
        }
    }
}
