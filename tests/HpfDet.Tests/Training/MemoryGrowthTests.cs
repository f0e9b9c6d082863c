using HpfDet.Losses;
using HpfDet.Tests.Detectors;
using HpfDet.Tests.Infrastructure;
using HpfDet.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Training;

/// <summary>
/// Live tensors and resident memory stay flat over training iterations (measured alone). Tensors are
/// counted as the trainer counts them, on every thread (batches are made on loader threads and disposed
/// on the trainer's, which a per-thread count cannot follow), after a full collection between steps so
/// that only tensors something still holds are counted, not those waiting for their finaliser.
/// </summary>
[Collection(SequentialCollection.Name)]
public class MemoryGrowthTests
{
    const int Iterations = 50, From = 10, LeakIterations = 30;
    /// <summary>Tensors a loader thread may have made for a batch not yet complete when the count is
    /// read (two images: the image tensor and three per image).</summary>
    const int BatchBeingMade = 7;

    [Fact]
    public void NoTensorOrMemoryGrowthAcrossIterations()
    {
        var (logs, live) = Train(loss => loss, Iterations);
        var (first, last) = (logs[From - 1], logs[Iterations - 1]);
        Assert.True(live[Iterations - 1] - live[From - 1] <= BatchBeingMade, $"live tensors went from {live[From - 1]} at iteration {From} to {live[Iterations - 1]} at {Iterations}");
        Assert.True(last.ResidentMemoryBytes <= first.ResidentMemoryBytes * 1.05, $"resident memory grew from {first.ResidentMemoryBytes >> 20} MiB to {last.ResidentMemoryBytes >> 20} MiB");
    }

    /// <summary>The count sees a leak of a single tensor per iteration: a loss that keeps one tensor per call.</summary>
    [Fact]
    public void OneLeakedTensorPerIterationIsSeen()
    {
        LeakingLoss? leaking = null;
        try
        {
            var (_, live) = Train(loss => leaking = new LeakingLoss(loss), LeakIterations);
            long gained = live[LeakIterations - 1] - live[From - 1];
            // Above what the leak-free test allows, and about one per iteration.
            Assert.True(gained > BatchBeingMade, $"a leak of {LeakIterations - From} tensors went unseen: {gained} gained");
            Assert.InRange(gained, LeakIterations - From - BatchBeingMade, LeakIterations - From + BatchBeingMade);
        }
        finally
        {
            leaking?.Dispose();
        }
    }

    /// <summary>The run's log entries, and the live tensors after each step and a full collection.</summary>
    static (List<IterationLog> Logs, List<long> Live) Train(Func<IClassificationLoss, IClassificationLoss> wrapLoss, int iterations)
    {
        var data = DetectorFixtures.Shapes(4, size: 64, maxObject: 40);
        var model = DetectorFixtures.TinyAtss(6, wrapLoss(new HierarchicalProgressiveFocalLoss()), seed: 3);
        using var dir = TestPaths.NewTempDir();
        using var t = new Trainer(model, DetectorFixtures.TrainLoader(data, 64),
            new TrainerOptions(Epochs: 25, LearningRate: 0.005, WarmupIterations: 3, EvaluateEveryEpochs: 0, MaxIterations: iterations),
            dir, data.ClassNames);
        var logs = new List<IterationLog>();
        var live = new List<long>();
        t.IterationCompleted += log =>
        {
            logs.Add(log);
            GC.Collect();
            GC.WaitForPendingFinalizers();
            live.Add(Trainer.LiveTensors());
        };
        t.Run();
        Assert.Equal(iterations, logs.Count);
        return (logs, live);
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
