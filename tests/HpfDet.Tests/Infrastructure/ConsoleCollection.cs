namespace HpfDet.Tests.Infrastructure;

/// <summary>Tests that redirect Console.Out/Console.Error (the tool in-process) run one at a time: the console is process-wide.</summary>
[CollectionDefinition(Name)]
public sealed class ConsoleCollection
{
    public const string Name = "Console capture";
}
