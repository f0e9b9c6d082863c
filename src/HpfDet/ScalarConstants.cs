using TorchSharp;

namespace HpfDet;

/// <summary>
/// TorchSharp scalars for the constants the library uses on every step, created once and kept for the
/// process. A Scalar made by an implicit conversion (<c>t.mul(0.5)</c>, <c>a + b</c>'s alpha) is freed
/// only by its finaliser, which can run on another thread while the native call still reads it; these
/// are never collected, and other values are made with <c>using var s = v.ToScalar();</c>.
/// The element type of each matches the literal it replaces (an int64 1 for an alpha, as TorchSharp's
/// own <c>add(t)</c>), so results are unchanged; tests/HpfDet.Tests/ImplicitScalarTests checks the IL.
/// </summary>
internal static class ScalarConstants
{
    public static readonly Scalar Zero = 0.ToScalar();
    public static readonly Scalar One = 1.ToScalar();
    public static readonly Scalar Two = 2.ToScalar();
    public static readonly Scalar MinusOne = (-1).ToScalar();
    public static readonly Scalar ZeroDouble = 0.0.ToScalar();
    public static readonly Scalar OneDouble = 1.0.ToScalar();
    public static readonly Scalar HalfDouble = 0.5.ToScalar();
}

/// <summary>Tensor factories whose TorchSharp overloads make implicit scalars.</summary>
internal static class ScalarFreeFactories
{
    /// <summary>0, 1, ..., count-1 as <c>torch.arange(count)</c> (int64 unless <paramref name="dtype"/> says
    /// otherwise), with the start and step passed explicitly.</summary>
    public static torch.Tensor Arange(long count, torch.ScalarType? dtype = null, torch.Device? device = null)
    {
        using var stop = count.ToScalar();
        return torch.arange(ScalarConstants.Zero, stop, ScalarConstants.One, dtype, device);
    }
}
