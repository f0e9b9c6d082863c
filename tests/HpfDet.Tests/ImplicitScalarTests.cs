using System.Reflection;
using HpfDet.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests;

/// <summary>
/// No implicit TorchSharp scalars in the library: a Scalar made by an implicit conversion (t.mul(0.5),
/// clamp_min(1e-6), fill_(1)) is freed only by its finaliser, which can run while the native call that
/// reads it is still running. The check reads the compiled IL for calls to Scalar's implicit operators,
/// and for calls into TorchSharp methods that make such scalars themselves (a + b's alpha,
/// tensor * 2.0, arange(n)'s start and step, softplus(x, β, threshold)).
/// </summary>
public class ImplicitScalarTests
{
    /// <summary>
    /// Methods that still make implicit scalars, all in src/HpfDet/Models/AtssDetector.cs and
    /// src/HpfDet/Models/Heads/AtssHead.cs, which are being restructured into the detector seam; they
    /// are to be fixed there and removed from this list (an entry that no longer offends fails the test).
    /// </summary>
    static readonly string[] PendingInDetectorFiles = [];

    static readonly Assembly TorchSharpAssembly = typeof(Scalar).Assembly;
    static readonly Lazy<HashSet<int>> ScalarMakers = new(() => IlCallScanner.MethodsReaching(TorchSharpAssembly, nameof(Scalar), "op_Implicit"));

    static bool MakesImplicitScalar(MethodBase callee) =>
        callee.Module == TorchSharpAssembly.ManifestModule && ScalarMakers.Value.Contains(callee.MetadataToken);

    static string Describe(IEnumerable<IlCallScanner.Caller> callers) =>
        string.Join(Environment.NewLine, callers.Select(c => $"  {c.Method} calls {string.Join(", ", c.Callees)}"));

    [Fact]
    public void LibraryMakesNoImplicitScalarsOutsideThePendingList()
    {
        var callers = IlCallScanner.FindCallers(typeof(HpfDetException).Assembly, MakesImplicitScalar);
        var unexpected = callers.Where(c => !PendingInDetectorFiles.Contains(c.Method)).ToList();
        Assert.True(unexpected.Count == 0,
            "These methods make implicit TorchSharp scalars; create them with 'using var s = v.ToScalar();' or use ScalarConstants " +
            $"(and pass an explicit alpha to add/add_ instead of 'a + b'):{Environment.NewLine}{Describe(unexpected)}");
        var fixedNow = PendingInDetectorFiles.Except(callers.Select(c => c.Method)).ToList();
        Assert.True(fixedNow.Count == 0, $"No longer making implicit scalars, remove from {nameof(PendingInDetectorFiles)}: {string.Join(", ", fixedNow)}");
    }

    [Fact]
    public void PendingListHoldsOnlyTheDetectorAndHeadMethods()
    {
        foreach (var method in PendingInDetectorFiles)
            Assert.True(method.StartsWith("HpfDet.Models.AtssDetector.", StringComparison.Ordinal) || method.StartsWith("HpfDet.Models.Heads.AtssHead.", StringComparison.Ordinal),
                $"{method} is not in the files being restructured; fix it instead of listing it.");
    }

    [Fact]
    public void CliMakesNoImplicitScalars()
    {
        var callers = IlCallScanner.FindCallers(typeof(HpfDet.Cli.CliRunner).Assembly, MakesImplicitScalar);
        Assert.True(callers.Count == 0, $"The CLI makes implicit TorchSharp scalars:{Environment.NewLine}{Describe(callers)}");
    }

    /// <summary>The scan finds what it is meant to find: the samples below, compiled into this assembly.</summary>
    [Fact]
    public void ScanFindsImplicitScalarsAndAcceptsExplicitOnes()
    {
        var found = IlCallScanner.FindCallers(typeof(ImplicitScalarTests).Assembly, MakesImplicitScalar)
            .Where(c => c.Method.StartsWith($"{typeof(ImplicitScalarSamples).FullName}.", StringComparison.Ordinal))
            .ToDictionary(c => c.Method[(typeof(ImplicitScalarSamples).FullName!.Length + 1)..], c => c.Callees);
        Assert.Equal(["Halve", "HalveInLambda", "Sum", "Twice"], found.Keys.Order(StringComparer.Ordinal));
        Assert.Contains(found["Halve"], c => c.StartsWith("Scalar.op_Implicit(Double", StringComparison.Ordinal));
        Assert.Contains(found["Sum"], c => c.StartsWith("Tensor.op_Addition(Tensor, Tensor", StringComparison.Ordinal));
        Assert.Contains(found["Twice"], c => c.StartsWith("Tensor.op_Multiply(Tensor, Double", StringComparison.Ordinal));
    }
}

/// <summary>Code for <see cref="ImplicitScalarTests.ScanFindsImplicitScalarsAndAcceptsExplicitOnes"/>; never run.</summary>
static class ImplicitScalarSamples
{
    public static Tensor Halve(Tensor t) => t.mul(0.5);
    public static Func<Tensor, Tensor> HalveInLambda() => t => t.clamp_min(1e-6);
    public static Tensor Sum(Tensor a, Tensor b) => a + b;
    public static Tensor Twice(Tensor t) => t * 2.0;

    public static Tensor HalveExplicitly(Tensor t)
    {
        using var half = 0.5.ToScalar();
        return t.mul(half);
    }

    public static Tensor SumExplicitly(Tensor a, Tensor b)
    {
        using var one = 1.ToScalar();
        return a.add(b, one);
    }
}
