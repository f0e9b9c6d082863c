using BenchmarkDotNet.Running;
using HpfDet.Benchmarks;

// Quick console measurements of the data path: dotnet run -c Release --project bench/HpfDet.Benchmarks -- data-loading | synthetic
if (args.Length > 0 && args[0] == "data-loading")
{
    DataLoadingThroughput.Run(Console.Out);
    return;
}
if (args.Length > 0 && args[0] == "synthetic")
{
    DataLoadingThroughput.RunSynthetic(Console.Out);
    return;
}

// Run all benchmarks: dotnet run -c Release --project bench/HpfDet.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
