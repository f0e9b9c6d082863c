using System.Diagnostics;
using HpfDet.Losses;
using HpfDet.Tests.Detectors;
using HpfDet.Tests.Infrastructure;
using HpfDet.Training;
using Xunit.Abstractions;

namespace HpfDet.Tests.Training;

/// <summary>
/// End-to-end learning check: a small YOLOF overfits a few synthetic images with HPF (one level: one γ).
/// YOLOF sees one stride-32 level whose smallest anchor is 32 px, so its fixture is 256-px images (an 8×8
/// grid) with objects of 32–128 px; on the other detectors' 128-px fixture (a 4×4 grid, objects from 20 px,
/// below the smallest anchor) it reached only AP50 0.78: some positives' boxes ran away to the delta clamps,
/// where GIoU and the clamps leave them no gradient. Its dilated encoder is 128 channels wide with a 32-channel
/// bottleneck (detectors-bccd.yaml's YOLOF): with 64 / 16, HPF reached AP50 1.000 on a Zen 4 but 0.866 on an
/// AVX2-only EPYC (another summation order), where it could not tell the squares from the circle, triangle
/// and ring drawn at the same place in other images (square AP 0.33); neither 200 iterations (0.844), lr
/// 0.02 (0.888) nor objects of 64–128 px (0.875) changed that, the 128 / 32 encoder did (AP50 1.000, AP
/// 0.949, square AP 1.000). Focal loss with the 64 / 16 encoder reached AP50 0.888 on the Zen 4, so it is
/// not a case.
/// </summary>
// Its fixture seeds torch's global RNG: run alone, after the parallel tests, so the result is reproducible.
[Collection(SequentialCollection.Name)]
public class YolofOverfitTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("hpf")]
    public void SmallYolofOverfitsAFewSyntheticImagesToAp50AboveNinetyPercent(string lossName)
    {
        var sw = Stopwatch.StartNew();
        const int size = 256;
        var data = DetectorFixtures.Shapes(4, size: size, seed: 5, maxObjects: 3, minObject: 32, maxObject: 128);
        IClassificationLoss loss = lossName == "hpf" ? new HierarchicalProgressiveFocalLoss() : new SigmoidFocalLoss();
        var model = YolofFixtures.TinyYolof(data.ClassNames.Count, loss, pretrained: true, seed: 0, encoderChannels: 128, encoderMidChannels: 32);
        // Its box regression learns slower than ATSS's: twice the iterations.
        var options = new TrainerOptions(Epochs: 120, LearningRate: 0.01, WarmupIterations: 20, DecayEpochs: [100], EvaluateEveryEpochs: 0, GradientClipNorm: 35, CheckpointEveryEpochs: 0);
        using var dir = TestPaths.NewTempDir();
        using var trainer = new Trainer(model, DetectorFixtures.TrainLoader(data, size, batch: 4, flip: false), options, dir, data.ClassNames);
        trainer.Run();
        var result = DetectionEvaluation.Run(model, data, DetectorFixtures.EvalLoader(data, size, batch: 4));
        output.WriteLine($"{lossName}: {trainer.TotalIterations} iterations, AP50 {result.Coco.Stats[1]:F3}, AP {result.Coco.Stats[0]:F3}, {sw.Elapsed.TotalSeconds:F0} s");
        output.WriteLine("VOC AP50 per class: " + string.Join(", ", result.Voc.PerClass.Where(c => c.NumPositives > 0).Select(c => $"{c.Name} {c.Ap:F3}")));
        Assert.True(result.Coco.Stats[1] >= 0.9, $"{lossName}: AP50 after training is {result.Coco.Stats[1]:F3}");
    }
}
