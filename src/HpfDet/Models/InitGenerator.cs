using static TorchSharp.torch;

namespace HpfDet.Models;

/// <summary>
/// The generator that parameter initialisation draws from: torch's global one unless code on this thread has
/// scoped one with <see cref="Use"/>. With a scoped generator, building a model gives the same weights for the
/// same seed whatever other threads draw from the global generator meanwhile (tests running in parallel).
/// </summary>
/// <remarks>
/// TorchSharp's layer constructors draw their default initialisation from the global generator; every module
/// here overwrites those values with its own initialisation, which is what reads <see cref="Current"/>. It draws
/// with the tensor methods (<c>normal_</c>, <c>uniform_</c>): TorchSharp 0.107's <c>nn.init.normal_</c> and
/// <c>nn.init.uniform_</c> take a generator argument but ignore it.
/// </remarks>
public static class InitGenerator
{
    [ThreadStatic] static Generator? current;

    /// <summary>The generator scoped on this thread, or null (torch's global generator).</summary>
    public static Generator? Current => current;

    /// <summary>Initialisation on this thread draws from <paramref name="generator"/> until the result is disposed.</summary>
    public static IDisposable Use(Generator generator)
    {
        var previous = current;
        current = generator;
        return new Scope(previous);
    }

    sealed class Scope(Generator? previous) : IDisposable
    {
        bool disposed;

        public void Dispose()
        {
            if (disposed) return;
            disposed = true;
            current = previous;
        }
    }
}
