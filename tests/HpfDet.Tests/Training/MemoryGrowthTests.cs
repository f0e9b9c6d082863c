using HpfDet.Losses;
using HpfDet.Tests.Detectors;
using HpfDet.Tests.Infrastructure;
using HpfDet.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Training;

/// <summary>
/// Live tensors and resident memory stay flat over training iterations (measured alone). The live count
/// is the trainer's process-wide one: batches are made on loader threads and disposed on the trainer's,
/// which a per-thread count cannot follow.
/// </summary>
[Collection(SequentialCollection.Name)]
public class MemoryGrowthTests
{
    const int Iterations = 50, From = 10;

    [Fact]
    public void NoTensorOrMemoryGrowthAcrossIterations()
    {
        var logs = Train(loss => loss, Iterations);
        var (first, last) = (logs[From - 1], logs[Iterations - 1]);
        Assert.True(TensorsGained(logs) == 0, $"live tensors went from {first.LiveTensors} at iteration {From} to {last.LiveTensors} at {Iterations}");
        Assert.True(last.ResidentMemoryBytes <= first.ResidentMemoryBytes * 1.05, $"resident memory grew from {first.ResidentMemoryBytes >> 20} MiB to {last.ResidentMemoryBytes >> 20} MiB");
    }

    /// <summary>The count sees a leak of a single tensor per iteration: a loss that keeps one tensor per call.</summary>
    [Fact]
    public void OneLeakedTensorPerIterationIsSeen()
    {
        LeakingLoss? leaking = null;
        try
        {
            var logs = Train(loss => leaking = new LeakingLoss(loss), Iterations);
            Assert.Equal(Iterations - From, TensorsGained(logs));
        }
        finally
        {
            leaking?.Dispose();
        }
    }

    static long TensorsGained(IReadOnlyList<IterationLog> logs) => logs[Iterations - 1].LiveTensors - logs[From - 1].LiveTensors;

    static List<IterationLog> Train(Func<IClassificationLoss, IClassificationLoss> wrapLoss, int iterations)
    {
        var data = DetectorFixtures.Shapes(4, size: 64, maxObject: 40);
        var model = DetectorFixtures.TinyAtss(6, wrapLoss(new HierarchicalProgressiveFocalLoss()), seed: 3);
        using var t = new Trainer(model, DetectorFixtures.TrainLoader(data, 64),
            new TrainerOptions(Epochs: 25, LearningRate: 0.005, WarmupIterations: 3, EvaluateEveryEpochs: 0, MaxIterations: iterations),
            TestPaths.NewTempDir(), data.ClassNames);
        var logs = new List<IterationLog>();
        t.IterationCompleted += logs.Add;
        t.Run();
        Assert.Equal(iterations, logs.Count);
        return logs;
    }

    /// <summary>A loss that keeps one tensor from every call (outside any dispose scope), as a cache that is never cleared would.</summary>
    sealed class LeakingLoss(IClassificationLoss inner) : IClassificationLoss, IDisposable
    {
        readonly List<Tensor> kept = [];

        public string Name => inner.Name;
        public LossStatistics? LastStatistics => inner.LastStatistics;

        public Tensor Forward(IReadOnlyList<ClassificationLevelInput> levels, Tensor? normalizer = null)
        {
            kept.Add(torch.zeros(1).DetachFromDisposeScope());
            return inner.Forward(levels, normalizer);
        }

        public void Dispose()
        {
            foreach (var t in kept) t.Dispose();
            kept.Clear();
        }
    }
}
