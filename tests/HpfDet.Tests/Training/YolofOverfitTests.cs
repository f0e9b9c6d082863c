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
    [Theory(Skip = "YOLOF does not overfit yet: 120 iterations give AP50 0.78 (AP 0.74) with HPF. Diagnosed (issue 12): matching is not the cause " +
        "(every object of the fixture has positives; seeds without shared priors also fail, 0.54-0.70); on some images the positives' " +
        "boxes run away early (centre shift at the 32-px clamp, width at the e^4.135 clamp, boxes up to 2000 px) and GIoU then gives " +
        "them almost no gradient (a box that contains the gt has no centre gradient). Straight-through clamps, a 60-iteration warm-up " +
        "and lr 0.005 did not help. Next: grad-norm logging per branch, a smaller regression lr, or L1 on deltas for the first iterations.")]
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
