using System.Runtime.InteropServices;

namespace HpfDet;

/// <summary>
/// Process-wide tuning of glibc's allocator for tensor workloads. libtorch frees and re-allocates
/// the same multi-megabyte buffers every step; with glibc's defaults each of them is a fresh mmap
/// whose pages fault in (and are zeroed by the kernel) again every step. Measured: about a third of the
/// focal-loss step, and at 1333×800 most of a training step (31.8 s → 12.3 s at batch 4, 9.8 → 5.9 s at
/// batch 2; docs/benchmarks.md). Serving every buffer from a heap that is not trimmed keeps those pages
/// mapped: the process keeps its peak working set instead of returning it to the system between steps.
/// An opt-in for applications (the CLI and the benchmarks call it); a no-op elsewhere than glibc on Linux.
/// </summary>
public static class NativeMemory
{
    const int M_TRIM_THRESHOLD = -1, M_TOP_PAD = -2, M_MMAP_THRESHOLD = -3, M_MMAP_MAX = -4;

    [DllImport("libc", EntryPoint = "mallopt")]
    static extern int Mallopt(int param, int value);

    /// <summary>glibc's allocator statistics (struct mallinfo2, glibc ≥ 2.33).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct MallInfo2
    {
        public nuint Arena, OrdBlks, SmBlks, HBlks, HBlkHd, UsmBlks, FsmBlks, UordBlks, FordBlks, KeepCost;
    }

    [DllImport("libc", EntryPoint = "mallinfo2")]
    static extern MallInfo2 MallInfo2Native();

    /// <summary>glibc's allocator statistics over all arenas (null where glibc's mallinfo2 is missing).</summary>
    public static MallInfo2? Statistics()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try { return MallInfo2Native(); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return null; }
    }

    /// <summary>True when the settings were applied.</summary>
    public static bool TuneAllocatorForTensors()
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            // No buffer is mapped on its own (M_MMAP_MAX 0; a threshold alone cannot do it: glibc caps it at
            // 32 MiB, and a P3 map of a 1333×800 batch is 68 MB), and the heap is never trimmed.
            return Mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1
                   & Mallopt(M_MMAP_MAX, 0) == 1
                   & Mallopt(M_TRIM_THRESHOLD, int.MaxValue) == 1
                   & Mallopt(M_TOP_PAD, 256 << 20) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;   // not glibc (e.g. musl): keep the defaults
        }
    }
}
