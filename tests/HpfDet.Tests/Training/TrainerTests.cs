using HpfDet.Losses;
using HpfDet.Models;
using HpfDet.Tests.Detectors;
using HpfDet.Tests.Infrastructure;
using HpfDet.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Training;

/// <summary>Runs alone: the resume test compares bit-exact weights, and torch's global RNG is shared by
/// tests running in parallel in this process.</summary>
[Collection(SequentialCollection.Name)]
public class TrainerTests
{
    static TrainerOptions Short(int? maxIterations, int epochs = 2) =>
        new(Epochs: epochs, LearningRate: 0.005, WarmupIterations: 3, EvaluateEveryEpochs: 0, MaxIterations: maxIterations);

    static Dictionary<string, float[]> Parameters(AtssDetector model) =>
        model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.dtype == ScalarType.Float32 ? kv.Value.ToArray<float>() : kv.Value.to(ScalarType.Float32).ToArray<float>());

    [Fact]
    public void TwoPlusTwoIterationsWithResumeEqualFourStraight()
    {
        var data = DetectorFixtures.Shapes(6, size: 64, maxObject: 40);
        // Four iterations straight (2 epochs of 3 batches: the resume point lies inside the first epoch).
        using var dirA = TestPaths.NewTempDir();
        var modelA = DetectorFixtures.TinyAtss(6, new HierarchicalProgressiveFocalLoss(), seed: 1);
        using (var t = new Trainer(modelA, DetectorFixtures.TrainLoader(data, 64), Short(4), dirA, data.ClassNames))
            Assert.Equal(4, t.Run().Iteration);

        // Two iterations, a checkpoint, a fresh model and trainer resumed from it, two more.
        using var dirB = TestPaths.NewTempDir();
        var modelB = DetectorFixtures.TinyAtss(6, new HierarchicalProgressiveFocalLoss(), seed: 1);
        string ckpt;
        using (var t = new Trainer(modelB, DetectorFixtures.TrainLoader(data, 64), Short(2), dirB, data.ClassNames))
            ckpt = t.Run().LastCheckpoint;
        var modelC = DetectorFixtures.TinyAtss(6, new HierarchicalProgressiveFocalLoss(), seed: 99);   // other init: all must come from the checkpoint
        using (var t = new Trainer(modelC, DetectorFixtures.TrainLoader(data, 64), Short(4), dirB, data.ClassNames))
        {
            t.Resume(ckpt);
            Assert.Equal(4, t.Run().Iteration);
        }
        var a = Parameters(modelA);
        var c = Parameters(modelC);
        foreach (var (name, values) in a)
            Assert.True(values.SequenceEqual(c[name]), $"{name} differs after resume");
        // The logs of the 3rd and 4th iterations match too.
        var logA = TrainingLogJson.Read(Path.Combine(dirA, "log.jsonl")).Iterations;
        var logB = TrainingLogJson.Read(Path.Combine(dirB, "log.jsonl")).Iterations;
        Assert.Equal(logA.Select(l => (l.Iteration, l.Loss)), logB.Select(l => (l.Iteration, l.Loss)));
        Assert.Equal(5, logA[0].Gamma.Length);
    }

    [Theory]
    [InlineData(1, new[] { 1, 2, 3, 4, 5 })]
    [InlineData(2, new[] { 2, 4, 5 })]
    [InlineData(0, new[] { 5 })]
    public void CheckpointsAreWrittenEveryNthEpochAndAfterTheLast(int every, int[] expectedEpochs)
    {
        // 4 images in batches of 2: 2 iterations per epoch, 5 epochs.
        var data = DetectorFixtures.Shapes(4, size: 64, maxObject: 40);
        using var dir = TestPaths.NewTempDir();
        var model = DetectorFixtures.TinyAtss(data.ClassNames.Count);
        var options = new TrainerOptions(Epochs: 5, LearningRate: 0.005, WarmupIterations: 3, EvaluateEveryEpochs: 0, CheckpointEveryEpochs: every);
        using var t = new Trainer(model, DetectorFixtures.TrainLoader(data, 64), options, dir, data.ClassNames);
        var written = new List<(int Epoch, int Iteration)>();
        t.CheckpointWritten += path => { var info = Checkpoint.ReadInfo(path); written.Add((info.Epoch, info.Iteration)); };
        Assert.Equal(10, t.Run().Iteration);
        Assert.Equal(expectedEpochs.Select(e => (e, 2 * e)), written);
    }

    /// <summary>A loss that returns NaN from its n-th call on: a stand-in for a diverged model.</summary>
    sealed class NanAfter(int calls) : IClassificationLoss
    {
        readonly SigmoidFocalLoss inner = new();
        int count;
        public string Name => "nan-after";
        public LossStatistics? LastStatistics => inner.LastStatistics;
        public Tensor Forward(IReadOnlyList<ClassificationLevelInput> levels, Tensor? normalizer = null) =>
            ++count >= calls ? inner.Forward(levels, normalizer).mul(double.NaN) : inner.Forward(levels, normalizer);
    }

    /// <summary>
    /// A backbone learning-rate multiplier of 0 leaves every trainable backbone parameter where it was after
    /// two iterations, while the neck's and head's move (the base learning rate applies to them).
    /// </summary>
    [Fact]
    public void ABackboneMultiplierOfZeroKeepsTheBackboneAndTrainsTheRest()
    {
        var data = DetectorFixtures.Shapes(4, size: 64, maxObject: 40);
        using var dir = TestPaths.NewTempDir();
        var model = DetectorFixtures.TinyAtss(6, new HierarchicalProgressiveFocalLoss(), seed: 3);
        var trained = model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToHashSet();
        Assert.Contains(trained, n => n.StartsWith("backbone."));
        var before = Parameters(model);
        using (var t = new Trainer(model, DetectorFixtures.TrainLoader(data, 64), Short(2) with { BackboneLrMultiplier = 0 }, dir, data.ClassNames))
            Assert.Equal(2, t.Run().Iteration);
        var after = Parameters(model);
        foreach (var name in trained.Where(n => n.StartsWith("backbone.")))
            Assert.True(before[name].SequenceEqual(after[name]), $"{name} moved with a backbone multiplier of 0");
        Assert.Contains(trained, n => !n.StartsWith("backbone.") && !before[n].SequenceEqual(after[n]));
    }

    [Fact]
    public void ANanLossStopsTrainingWithAClearMessageAndKeepsTheLastGoodCheckpoint()
    {
        var data = DetectorFixtures.Shapes(4, size: 64, maxObject: 40);
        using var dir = TestPaths.NewTempDir();
        var model = DetectorFixtures.TinyAtss(6, new NanAfter(4), seed: 2);
        using var t = new Trainer(model, DetectorFixtures.TrainLoader(data, 64), Short(null, epochs: 3), dir, data.ClassNames);
        var e = Assert.Throws<NonFiniteLossException>(() => t.Run());
        Assert.Contains("NaN", e.Message);
        Assert.Contains("iteration 4", e.Message);
        var last = Path.Combine(dir, "checkpoints", "last.ckpt");
        Assert.Contains(last, e.Message);
        // The checkpoint is the one written after epoch 1 (2 iterations) and loads.
        var (info, tensors) = Checkpoint.Load(last);
        Assert.Equal(2, info.Iteration);
        foreach (var x in tensors.Values) x.Dispose();
    }

    [Fact]
    public void CancellingStopsAtAnIterationBoundaryWithACheckpointThatResumes()
    {
        // What Ctrl+C does in the tool: cancel the token; the trainer writes last.ckpt and returns.
        var data = DetectorFixtures.Shapes(6, size: 64, maxObject: 40);
        using var dir = TestPaths.NewTempDir();
        using var cts = new CancellationTokenSource();
        var model = DetectorFixtures.TinyAtss(6, seed: 4);
        TrainingResult result;
        using (var t = new Trainer(model, DetectorFixtures.TrainLoader(data, 64), Short(null, epochs: 3), dir, data.ClassNames))
        {
            t.IterationCompleted += log => { if (log.Iteration == 2) cts.Cancel(); };
            result = t.Run(cts.Token);
        }
        Assert.Equal(TrainingOutcome.Interrupted, result.Outcome);
        Assert.Equal(2, result.Iteration);
        var resumed = DetectorFixtures.TinyAtss(6, seed: 5);
        using var t2 = new Trainer(resumed, DetectorFixtures.TrainLoader(data, 64), Short(null, epochs: 3), dir, data.ClassNames);
        t2.Resume(result.LastCheckpoint);
        var end = t2.Run();
        Assert.Equal(TrainingOutcome.Completed, end.Outcome);
        Assert.Equal(9, end.Iteration);   // 3 epochs × 3 batches, 2 of them before the interruption
    }

    [Fact]
    public void ACorruptCheckpointIsAClearError()
    {
        using var dir = TestPaths.NewTempDir();
        var path = Path.Combine(dir, "bad.ckpt");
        File.WriteAllText(path, "HPFDETCK garbage");
        Assert.Contains("bad.ckpt", Assert.Throws<HpfDetException>(() => Checkpoint.Load(path)).Message);
        Assert.Contains("not found", Assert.Throws<HpfDetException>(() => Checkpoint.Load(Path.Combine(dir, "missing.ckpt"))).Message);
    }

    [Fact]
    public void LearningRateScheduleByHand()
    {
        var s = new LearningRateSchedule(0.01, WarmupIterations: 10, WarmupRatio: 0.001, DecayEpochs: [8, 11]);
        Assert.Equal(0.01 * 0.001, s.At(0, 0), 12);
        Assert.Equal(0.01 * (0.001 + 0.999 * 5 / 10), s.At(5, 0), 12);
        Assert.Equal(0.01, s.At(10, 0), 12);
        Assert.Equal(0.001, s.At(1000, 8), 12);
        Assert.Equal(0.0001, s.At(1000, 11), 12);
        Assert.Equal([8, 11], LearningRateSchedule.DefaultDecayEpochs(12));
    }
}
