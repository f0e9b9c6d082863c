using System.Runtime.InteropServices;
using Xunit;

namespace HpfDet.Tests;

public class NativeMemoryTests
{
    /// <summary>
    /// glibc maps any buffer above its mmap threshold (at most 32 MiB) on its own and unmaps it when freed, so
    /// its pages fault in again on the next step; after tuning, a 48 MiB buffer must come from the heap:
    /// glibc's count of mapped bytes (mallinfo2's hblkhd) does not grow while it is held.
    /// </summary>
    [SkippableFact]
    public void AfterTuningABufferAboveGlibcsMmapCapIsServedFromTheHeap()
    {
        Skip.IfNot(OperatingSystem.IsLinux() && NativeMemory.Statistics() is not null, "Needs glibc (mallinfo2); the tuning is a no-op elsewhere.");
        Assert.True(NativeMemory.TuneAllocatorForTensors());
        nuint size = 48u << 20;
        var before = NativeMemory.Statistics()!.Value.HBlkHd;
        var buffer = Marshal.AllocHGlobal((nint)size);   // malloc on Unix
        try
        {
            Marshal.WriteByte(buffer, 1);
            var held = NativeMemory.Statistics()!.Value.HBlkHd;
            Assert.True(held < before + size, $"mapped bytes went from {before} to {held} while a {size}-byte buffer was held: it was mapped on its own");
        }
        finally
        {
            Marshal.FreeHGlobal(buffer);
        }
    }
}
