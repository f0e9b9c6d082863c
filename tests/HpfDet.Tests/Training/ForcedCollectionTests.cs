using HpfDet.Losses;
using HpfDet.Tests.Detectors;
using HpfDet.Tests.Infrastructure;
using HpfDet.Training;

namespace HpfDet.Tests.Training;

/// <summary>
/// Training with garbage collections at any moment: a TorchSharp Scalar left to its finaliser would be
/// freed while a native call still reads it (errors such as "toFloat" or NaN at random iterations).
/// The trainer no longer collects between iterations; this test collects continuously instead.
/// </summary>
[Collection(SequentialCollection.Name)]
public class ForcedCollectionTests
{
    [Fact]
    public void TrainingCompletesWithFiniteLossesWhileCollectionsRun()
    {
        const int iterations = 30;
        var data = DetectorFixtures.Shapes(4, size: 64, maxObject: 40);
        var model = DetectorFixtures.TinyAtss(6, new HierarchicalProgressiveFocalLoss(), seed: 5);
        using var dir = TestPaths.NewTempDir();
        using var trainer = new Trainer(model, DetectorFixtures.TrainLoader(data, 64),
            new TrainerOptions(Epochs: 20, LearningRate: 0.005, WarmupIterations: 3, EvaluateEveryEpochs: 0, MaxIterations: iterations),
            dir, data.ClassNames);
        var logs = new List<IterationLog>();
        var collectionsAtStep = new List<long>();
        long collections = 0;
        trainer.IterationCompleted += log =>
        {
            logs.Add(log);
            collectionsAtStep.Add(Interlocked.Read(ref collections));
        };

        using var stop = new CancellationTokenSource();
        var collector = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                Interlocked.Increment(ref collections);
            }
        }) { IsBackground = true, Name = "forced-collections" };
        collector.Start();
        try { trainer.Run(); }
        finally
        {
            stop.Cancel();
            collector.Join();
        }

        Assert.Equal(iterations, logs.Count);
        Assert.All(logs, l => Assert.True(double.IsFinite(l.Loss) && l.Losses.Count == 3 && l.Losses.Values.All(double.IsFinite),
            $"iteration {l.Iteration}: loss {l.Loss} ({string.Join(", ", l.Losses.Select(kv => $"{kv.Key} {kv.Value}"))})"));
        // Collections ran during the steps, not only before or after them.
        int stepsWithCollections = Enumerable.Range(1, iterations - 1).Count(i => collectionsAtStep[i] > collectionsAtStep[i - 1]);
        Assert.True(stepsWithCollections >= iterations / 2, $"collections ran during only {stepsWithCollections} of {iterations - 1} steps");
    }
}
