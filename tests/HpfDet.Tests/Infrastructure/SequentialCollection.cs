namespace HpfDet.Tests.Infrastructure;

/// <summary>Tests that measure the process (resident memory) or depend on torch's global RNG run alone, after the parallel ones.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SequentialCollection
{
    public const string Name = "Sequential (process measurements)";
}
