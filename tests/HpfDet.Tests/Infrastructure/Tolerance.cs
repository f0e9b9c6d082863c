namespace HpfDet.Tests.Infrastructure;

/// <summary>Element-by-element comparison with a mixed tolerance |a - e| ≤ abs + rel·|e|.</summary>
public static class Tolerance
{
    public static void AssertClose(double expected, double actual, double rel, double abs, string what)
    {
        var tol = abs + rel * Math.Abs(expected);
        if (!(Math.Abs(actual - expected) <= tol))
            Assert.Fail($"{what}: expected {expected:R}, got {actual:R} (|diff| = {Math.Abs(actual - expected):E3} > tolerance {tol:E3}).");
    }

    public static void AssertAllClose(IReadOnlyList<double> expected, IReadOnlyList<double> actual, double rel, double abs, string what)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
            AssertClose(expected[i], actual[i], rel, abs, $"{what}[{i}]");
    }
}
