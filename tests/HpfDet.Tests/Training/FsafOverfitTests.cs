using System.Diagnostics;
using HpfDet.Losses;
using HpfDet.Tests.Detectors;
using HpfDet.Tests.Infrastructure;
using HpfDet.Training;
using Xunit.Abstractions;

namespace HpfDet.Tests.Training;

/// <summary>End-to-end learning check for FSAF, seeded through its own generators (model and data loader).</summary>
// Run alone, after the parallel tests: next to them the result moved (FoveaBox: AP50 0.822 in one CI run, 1.000 in others).
[Collection(SequentialCollection.Name)]
public class FsafOverfitTests(ITestOutputHelper output)
{
    /// <remarks>
    /// The head has GroupNorm (model.head_groups), as the RetinaNet overfit test: FSAF's own head without
    /// normalisation and normal(0, 0.01) convs shrinks the features and needs far more iterations than a test affords.
    /// </remarks>
    [Fact]
    public void SmallFsafOverfitsAFewSyntheticImagesToAp50AboveNinetyPercent()
    {
        var sw = Stopwatch.StartNew();
        var data = DetectorFixtures.Shapes(4, size: 128, seed: 5, maxObjects: 3, minObject: 20, maxObject: 64);
        var model = FsafFixtures.TinyFsaf(data.ClassNames.Count, new HierarchicalProgressiveFocalLoss(), pretrained: true, seed: 0, headGroups: 16);
        // Gradient clipping at norm 10, FSAF's own setting: with 35, a gradient spike when the learning rate reaches 0.01
        // was followed by a box loss that stalled (the box regressor ends in a ReLU), and AP50 stayed below 0.9.
        var options = new TrainerOptions(Epochs: 60, LearningRate: 0.01, WarmupIterations: 20, DecayEpochs: [45], EvaluateEveryEpochs: 0, GradientClipNorm: 10, CheckpointEveryEpochs: 0);
        using var dir = TestPaths.NewTempDir();
        using var trainer = new Trainer(model, DetectorFixtures.TrainLoader(data, 128, batch: 4, flip: false), options, dir, data.ClassNames);
        trainer.Run();
        var result = DetectionEvaluation.Run(model, data, DetectorFixtures.EvalLoader(data, 128, batch: 4));
        output.WriteLine($"{trainer.TotalIterations} iterations, AP50 {result.Coco.Stats[1]:F3}, AP {result.Coco.Stats[0]:F3}, {sw.Elapsed.TotalSeconds:F0} s");
        Assert.True(result.Coco.Stats[1] >= 0.9, $"AP50 after training is {result.Coco.Stats[1]:F3}");
    }
}
