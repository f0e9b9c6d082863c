using System.Diagnostics;
using HpfDet.Losses;
using HpfDet.Tests.Detectors;
using HpfDet.Tests.Infrastructure;
using HpfDet.Training;
using Xunit.Abstractions;

namespace HpfDet.Tests.Training;

/// <summary>End-to-end learning check for FoveaBox, seeded through its own generators (model and data loader).</summary>
// Run alone, after the parallel tests: next to them the result moved (FoveaBox: AP50 0.822 in one CI run, 1.000 in others).
[Collection(SequentialCollection.Name)]
public class FoveaBoxOverfitTests(ITestOutputHelper output)
{
    /// <remarks>
    /// The basic head (no normalisation, normal(0, 0.01) stacked convs) learned too slowly for a short test: in 60
    /// iterations HPF reached AP50 0.206 and focal loss (γ 1.5, α 0.4) 0. The GroupNorm head of the gn-head
    /// configurations (model.head_groups) keeps the features' scale and is what this test trains.
    /// </remarks>
    /// (Focal loss γ 1.5, α 0.4 on the GroupNorm head is not listed: its run did not finish on the shared machine.)
    [Theory]
    [InlineData("hpf")]
    public void SmallFoveaBoxOverfitsAFewSyntheticImagesToAp50AboveNinetyPercent(string lossName)
    {
        var sw = Stopwatch.StartNew();
        var data = DetectorFixtures.Shapes(4, size: 128, seed: 5, maxObjects: 3, minObject: 20, maxObject: 64);
        IClassificationLoss loss = lossName == LossNames.Hpf ? new HierarchicalProgressiveFocalLoss() : new SigmoidFocalLoss(new SigmoidFocalLossOptions(1.5, 0.4));
        var model = FoveaBoxFixtures.TinyFoveaBox(data.ClassNames.Count, loss, pretrained: true, seed: 0, headGroups: 16);
        var options = new TrainerOptions(Epochs: 60, LearningRate: 0.01, WarmupIterations: 20, DecayEpochs: [45], EvaluateEveryEpochs: 0, GradientClipNorm: 35, CheckpointEveryEpochs: 0);
        using var dir = TestPaths.NewTempDir();
        using var trainer = new Trainer(model, DetectorFixtures.TrainLoader(data, 128, batch: 4, flip: false), options, dir, data.ClassNames);
        trainer.Run();
        var result = DetectionEvaluation.Run(model, data, DetectorFixtures.EvalLoader(data, 128, batch: 4));
        output.WriteLine($"{lossName}: {trainer.TotalIterations} iterations, AP50 {result.Coco.Stats[1]:F3}, AP {result.Coco.Stats[0]:F3}, {sw.Elapsed.TotalSeconds:F0} s");
        Assert.True(result.Coco.Stats[1] >= 0.9, $"AP50 after training is {result.Coco.Stats[1]:F3}");
    }
}
