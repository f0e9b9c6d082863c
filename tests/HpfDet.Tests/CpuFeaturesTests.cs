namespace HpfDet.Tests;

/// <summary>bf16 is for CPUs with bfloat16 units; the CPU check reads /proc/cpuinfo's flags.</summary>
public class CpuFeaturesTests
{
    // Shortened from real /proc/cpuinfo texts: a Zen 4 (avx512_bf16), a Sapphire Rapids (amx_bf16 without
    // avx512_bf16 in this excerpt), and a Skylake-SP (AVX-512 without bfloat16, whose "vmx flags" line must not count).
    const string Zen4 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9654 96-Core Processor\nflags\t\t: fpu vme sse2 avx2 avx512f avx512bw avx512_bf16 avx512vl\nbugs\t\t: sysret_ss_attrs\n";
    const string SapphireRapids = "processor\t: 0\nflags\t\t: fpu avx2 avx512f amx_bf16 amx_tile amx_int8\n";
    const string Skylake = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512bw avx512vl avx512_vnni\nvmx flags\t: vnmi avx512_bf16 ept\n";

    [Theory]
    [InlineData(Zen4, true)]
    [InlineData(SapphireRapids, true)]
    [InlineData(Skylake, false)]
    [InlineData("processor\t: 0\nflags\t\t: fpu avx512_bf16x\n", false)]
    [InlineData("processor\t: 0\n", false)]
    public void TheFlagsLineDecidesWhetherTheCpuHasBFloat16Units(string cpuinfo, bool expected) =>
        Assert.Equal(expected, CpuFeatures.ListsBFloat16Units(cpuinfo));

    [Fact]
    public void ADescriptionNamesTheModelAndTheVectorInstructionSets()
    {
        Assert.Equal("AMD EPYC 9654 96-Core Processor; avx2, avx512f, avx512_bf16", CpuFeatures.Describe(Zen4));
        Assert.Equal("unknown CPU; avx2, avx512f, avx512_vnni", CpuFeatures.Describe(Skylake));
        Assert.Equal("unknown CPU; no AVX2", CpuFeatures.Describe("processor\t: 0\nflags\t\t: fpu sse2\n"));
    }

    [Fact]
    public void OnlyACpuKnownToLackBFloat16UnitsIsWarned()
    {
        Assert.Null(CpuFeatures.BFloat16Warning("train.precision: bf16", true));
        Assert.Null(CpuFeatures.BFloat16Warning("train.precision: bf16", null));
        var warning = CpuFeatures.BFloat16Warning("train.precision: bf16", false);
        Assert.NotNull(warning);
        Assert.Contains("train.precision: bf16", warning);
        Assert.Contains("fp32", warning);
    }
}
