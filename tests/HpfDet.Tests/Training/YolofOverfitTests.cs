using System.Diagnostics;
using HpfDet.Losses;
using HpfDet.Tests.Detectors;
using HpfDet.Tests.Infrastructure;
using HpfDet.Training;
using Xunit.Abstractions;

namespace HpfDet.Tests.Training;

/// <summary>End-to-end learning check: a small YOLOF overfits a few synthetic images, with HPF (one level: one γ) and focal loss.</summary>
public class YolofOverfitTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("hpf")]
    [InlineData("fl")]
    public void SmallYolofOverfitsAFewSyntheticImagesToAp50AboveNinetyPercent(string lossName)
    {
        var sw = Stopwatch.StartNew();
        var data = DetectorFixtures.Shapes(4, size: 128, seed: 5, maxObjects: 3, minObject: 20, maxObject: 64);
        IClassificationLoss loss = lossName == "hpf" ? new HierarchicalProgressiveFocalLoss() : new SigmoidFocalLoss();
        var model = YolofFixtures.TinyYolof(data.ClassNames.Count, loss, pretrained: true, seed: 0);
        // Its box regression learns slower than ATSS's (after 60 iterations the GIoU loss was still ~1 and AP50 0.51
        // with HPF, 0.21 with focal loss): twice the iterations.
        var options = new TrainerOptions(Epochs: 120, LearningRate: 0.01, WarmupIterations: 20, DecayEpochs: [100], EvaluateEveryEpochs: 0, GradientClipNorm: 35);
        using var trainer = new Trainer(model, DetectorFixtures.TrainLoader(data, 128, batch: 4, flip: false), options, TestPaths.NewTempDir(), data.ClassNames);
        trainer.Run();
        var result = DetectionEvaluation.Run(model, data, DetectorFixtures.EvalLoader(data, 128, batch: 4));
        output.WriteLine($"{lossName}: {trainer.TotalIterations} iterations, AP50 {result.Coco.Stats[1]:F3}, AP {result.Coco.Stats[0]:F3}, {sw.Elapsed.TotalSeconds:F0} s");
        Assert.True(result.Coco.Stats[1] >= 0.9, $"{lossName}: AP50 after training is {result.Coco.Stats[1]:F3}");
    }
}
