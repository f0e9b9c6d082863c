using BenchmarkDotNet.Running;
using HpfDet.Benchmarks;

// Write the COCO evaluation benchmark problem: dotnet run -c Release --project bench/HpfDet.Benchmarks -- coco-generate DIR
if (args is ["coco-generate", var dir])
{
    var (gt, dt) = CocoProblemGenerator.Write(dir);
    Console.WriteLine($"Wrote {dir}/gt.json ({gt} boxes) and {dir}/dt.json ({dt} detections).");
    return;
}

// Run all benchmarks: dotnet run -c Release --project bench/HpfDet.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
