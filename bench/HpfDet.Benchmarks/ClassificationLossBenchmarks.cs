using BenchmarkDotNet.Attributes;
using HpfDet.Losses;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Benchmarks;

/// <summary>
/// Forward + backward of the classification loss on the five ATSS levels of an 800×1333 input
/// (100×168, 50×84, 25×42, 13×21, 7×11 locations), 80 classes, batch 2, about 0.5% positives per level.
/// </summary>
[MemoryDiagnoser(false)]
[WarmupCount(3)]
[IterationCount(15)]
public class ClassificationLossBenchmarks
{
    static readonly (int H, int W)[] LevelSizes = [(100, 168), (50, 84), (25, 42), (13, 21), (7, 11)];
    const int Batch = 2, NumClasses = 80;

    [Params("fl", "fl-nostats", "hpf", "hpf-alllevels")]
    public string Loss { get; set; } = "fl";

    IClassificationLoss _loss = null!;
    List<ClassificationLevelInput> _levels = null!;

    [GlobalSetup]
    public void Setup()
    {
        torch.manual_seed(0);
        _loss = Loss switch
        {
            "fl" => new SigmoidFocalLoss(),
            "fl-nostats" => new SigmoidFocalLoss(new SigmoidFocalLossOptions(CollectStatistics: false)),
            "hpf" => new HierarchicalProgressiveFocalLoss(),
            "hpf-alllevels" => new HierarchicalProgressiveFocalLoss(new HierarchicalProgressiveFocalLossOptions(Scope: ProgressiveFocusScope.AllLevels)),
            _ => throw new ArgumentException(Loss),
        };
        _levels = [];
        using var logitScale = 2.ToScalar();
        using var logitShift = 4.ToScalar();
        using var positiveFraction = 0.005.ToScalar();
        using var background = NumClasses.ToScalar();
        foreach (var (h, w) in LevelSizes)
        {
            long n = (long)Batch * h * w;
            var logits = torch.randn(n, NumClasses).mul(logitScale).sub(logitShift).requires_grad_(true);
            var isPositive = torch.rand(n).lt(positiveFraction);
            var labels = torch.where(isPositive, torch.randint(0, NumClasses, n, dtype: ScalarType.Int64), torch.full(n, background, dtype: ScalarType.Int64));
            var weights = torch.ones(n);
            logits.DetachFromDisposeScope();
            _levels.Add(new ClassificationLevelInput(logits, labels, weights));
        }
    }

    [Benchmark]
    public float ForwardBackward()
    {
        using var scope = torch.NewDisposeScope();
        foreach (var l in _levels) l.Logits.grad?.zero_();
        var loss = _loss.Forward(_levels);
        loss.backward();
        return loss.item<float>();
    }
}
