namespace HpfDet.Tests.Infrastructure;

/// <summary>Tests that measure the process (resident memory, timing) run alone, after the parallel ones.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SequentialCollection
{
    public const string Name = "Sequential (process measurements)";
}
