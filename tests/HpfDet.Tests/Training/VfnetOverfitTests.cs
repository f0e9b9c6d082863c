using System.Diagnostics;
using HpfDet.Losses;
using HpfDet.Tests.Detectors;
using HpfDet.Tests.Infrastructure;
using HpfDet.Training;
using Xunit.Abstractions;

namespace HpfDet.Tests.Training;

/// <summary>End-to-end learning check for VFNet: a small VFNet overfits a few synthetic images, with HPF (the varifocal loss takes the same path, given a loss name).</summary>
// Its fixture seeds torch's global RNG: run alone, after the parallel tests, so the result is reproducible.
[Collection(SequentialCollection.Name)]
public class VfnetOverfitTests(ITestOutputHelper output)
{
    /// <remarks>
    /// The varifocal-loss case (<c>[InlineData(LossNames.Varifocal)]</c>) is not listed: on the shared 2-core
    /// machine it could not run to the end in time to be checked (its losses were falling at iteration 16).
    /// 120 iterations (as YOLOF's test): at 60 the result hung on the last bits of the arithmetic — AP50 1.000 on one
    /// machine, 0.683 at 2 threads and 0.867 at 1 on another; at 120 it is 1.000 at either thread count.
    /// </remarks>
    [Theory]
    [InlineData(LossNames.Hpf)]
    public void SmallVfnetOverfitsAFewSyntheticImagesToAp50AboveNinetyPercent(string lossName)
    {
        var sw = Stopwatch.StartNew();
        IClassificationLoss loss = lossName == LossNames.Hpf ? new HierarchicalProgressiveFocalLoss() : new VarifocalLoss();
        var data = DetectorFixtures.Shapes(4, size: 128, seed: 5, maxObjects: 3, minObject: 20, maxObject: 64);
        var model = VfnetFixtures.TinyVfnet(data.ClassNames.Count, loss, pretrained: true, seed: 0);
        var options = new TrainerOptions(Epochs: 120, LearningRate: 0.01, WarmupIterations: 20, DecayEpochs: [100], EvaluateEveryEpochs: 0, GradientClipNorm: 35, CheckpointEveryEpochs: 0);
        using var dir = TestPaths.NewTempDir();
        using var trainer = new Trainer(model, DetectorFixtures.TrainLoader(data, 128, batch: 4, flip: false), options, dir, data.ClassNames);
        trainer.Run();
        var result = DetectionEvaluation.Run(model, data, DetectorFixtures.EvalLoader(data, 128, batch: 4));
        output.WriteLine($"{lossName}: {trainer.TotalIterations} iterations, AP50 {result.Coco.Stats[1]:F3}, AP {result.Coco.Stats[0]:F3}, {sw.Elapsed.TotalSeconds:F0} s");
        Assert.True(result.Coco.Stats[1] >= 0.9, $"{lossName}: AP50 after training is {result.Coco.Stats[1]:F3}");
    }
}
