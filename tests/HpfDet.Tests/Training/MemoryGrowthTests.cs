using HpfDet.Losses;
using HpfDet.Tests.Detectors;
using HpfDet.Tests.Infrastructure;
using HpfDet.Training;

namespace HpfDet.Tests.Training;

/// <summary>Live tensors and resident memory stay flat over training iterations (measured alone).</summary>
[Collection(SequentialCollection.Name)]
public class MemoryGrowthTests
{
    [Fact]
    public void NoMemoryGrowthAcrossIterations()
    {
        var data = DetectorFixtures.Shapes(4, size: 64, maxObject: 40);
        var model = DetectorFixtures.TinyAtss(6, new HierarchicalProgressiveFocalLoss(), seed: 3);
        using var t = new Trainer(model, DetectorFixtures.TrainLoader(data, 64), new TrainerOptions(Epochs: 25, LearningRate: 0.005, WarmupIterations: 3, EvaluateEveryEpochs: 0, MaxIterations: 50), TestPaths.NewTempDir(), data.ClassNames);
        var logs = new List<IterationLog>();
        t.IterationCompleted += logs.Add;
        t.Run();
        Assert.Equal(50, logs.Count);
        var at10 = logs[9];
        var at50 = logs[49];
        Assert.True(at50.LiveTensors <= at10.LiveTensors * 1.05, $"live tensors grew from {at10.LiveTensors} to {at50.LiveTensors}");
        Assert.True(at50.ResidentMemoryBytes <= at10.ResidentMemoryBytes * 1.05, $"resident memory grew from {at10.ResidentMemoryBytes >> 20} MiB to {at50.ResidentMemoryBytes >> 20} MiB");
    }

}
