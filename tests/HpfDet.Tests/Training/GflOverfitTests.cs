using System.Diagnostics;
using HpfDet.Losses;
using HpfDet.Tests.Detectors;
using HpfDet.Tests.Infrastructure;
using HpfDet.Training;
using Xunit.Abstractions;

namespace HpfDet.Tests.Training;

/// <summary>End-to-end learning check: a small GFL overfits a few synthetic images.</summary>
// Its fixture seeds torch's global RNG: run alone, after the parallel tests, so the result is reproducible.
[Collection(SequentialCollection.Name)]
public class GflOverfitTests(ITestOutputHelper output)
{
    [Fact]
    public void SmallGflWithHpfOverfitsAFewSyntheticImagesToAp50AboveNinetyPercent() => Overfit(new HierarchicalProgressiveFocalLoss(), epochs: 60);

    /// <remarks>
    /// With its native QFL, GFL starts slowly: the joint score's targets are the IoUs of boxes decoded from
    /// near-uniform distributions (sides of 16 strides, IoU ≈ 0.1 with the objects), so the scores stay low,
    /// and the box terms, weighted by those scores over max(1, Σ weights), start about 100× weaker than with
    /// hard labels. After the 60 iterations the HPF case needs it reached AP50 0.30 (AP 0.18); after 120 it
    /// reaches AP50 0.900 (AP 0.883; measured with one thread), so it gets twice the iterations.
    /// </remarks>
    [Fact]
    public void SmallGflWithQflOverfitsAFewSyntheticImagesToAp50AboveNinetyPercent() => Overfit(new QualityFocalLoss(), epochs: 120);

    void Overfit(IClassificationLoss loss, int epochs)
    {
        var sw = Stopwatch.StartNew();
        var data = DetectorFixtures.Shapes(4, size: 128, seed: 5, maxObjects: 3, minObject: 20, maxObject: 64);
        var model = GflFixtures.TinyGfl(data.ClassNames.Count, loss, pretrained: true, seed: 0);
        var options = new TrainerOptions(Epochs: epochs, LearningRate: 0.01, WarmupIterations: 20, DecayEpochs: [epochs * 3 / 4], EvaluateEveryEpochs: 0, GradientClipNorm: 35, CheckpointEveryEpochs: 0);
        using var dir = TestPaths.NewTempDir();
        using var trainer = new Trainer(model, DetectorFixtures.TrainLoader(data, 128, batch: 4, flip: false), options, dir, data.ClassNames);
        trainer.Run();
        var result = DetectionEvaluation.Run(model, data, DetectorFixtures.EvalLoader(data, 128, batch: 4));
        output.WriteLine($"{loss.Name}: {trainer.TotalIterations} iterations, AP50 {result.Coco.Stats[1]:F3}, AP {result.Coco.Stats[0]:F3}, {sw.Elapsed.TotalSeconds:F0} s");
        Assert.True(result.Coco.Stats[1] >= 0.9, $"{loss.Name}: AP50 after training is {result.Coco.Stats[1]:F3}");
    }
}
