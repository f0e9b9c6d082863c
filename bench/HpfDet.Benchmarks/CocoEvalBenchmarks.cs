using BenchmarkDotNet.Attributes;
using HpfDet.Evaluation;

namespace HpfDet.Benchmarks;

/// <summary>
/// COCO evaluation on a COCO-val-sized problem (5000 images, 80 categories, ~35k ground-truth boxes,
/// 500k detections): parsing the results file and the evaluation itself.
/// Run: dotnet run -c Release --project bench/HpfDet.Benchmarks -- --filter '*CocoEval*'
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 3)]
public class CocoEvalBenchmarks
{
    string _dir = "";
    CocoGroundTruth _gt = null!;
    CocoDetections _dt = null!;

    [GlobalSetup]
    public void Setup()
    {
        _dir = Path.Combine(Path.GetTempPath(), "hpfdet-bench-coco");
        if (!File.Exists(Path.Combine(_dir, "dt.json"))) CocoProblemGenerator.Write(_dir);
        _gt = CocoGroundTruth.Load(Path.Combine(_dir, "gt.json"));
        _dt = CocoDetections.Load(Path.Combine(_dir, "dt.json"));
    }

    [Benchmark]
    public CocoDetections ParseResults() => CocoDetections.Load(Path.Combine(_dir, "dt.json"));

    [Benchmark]
    public CocoEvalResult Evaluate() => CocoEvaluator.Evaluate(_gt, _dt);

    [Benchmark]
    public double VocMap50() => VocEvaluator.MeanAp50(_gt, _dt);
}
