using HpfDet.Data;
using HpfDet.Losses;
using HpfDet.Tests.Detectors;
using HpfDet.Tests.Infrastructure;
using HpfDet.Training;
using static TorchSharp.torch;

namespace HpfDet.Tests.Training;

/// <summary>A diverged model ends as <see cref="NonFiniteLossException"/>; log.jsonl stays valid JSON and free of replayed lines.</summary>
[Collection(SequentialCollection.Name)]
public class DivergenceAndLogTests
{
    /// <summary>Focal loss fed logits that turn NaN from the n-th call on: a model whose outputs diverged.</summary>
    sealed class NanLogitsAfter(int calls) : IClassificationLoss
    {
        readonly SigmoidFocalLoss inner = new();
        int count;
        public string Name => "nan-logits";
        public LossStatistics? LastStatistics => inner.LastStatistics;
        public Tensor Forward(IReadOnlyList<ClassificationLevelInput> levels, Tensor? normalizer = null) =>
            inner.Forward(++count >= calls ? levels.Select(l => l with { Logits = l.Logits.mul(double.NaN) }).ToList() : levels, normalizer);
    }

    [Fact]
    public void NonFiniteLogitsStopTrainingAsDivergenceNotAsAnArgumentError()
    {
        var data = DetectorFixtures.Shapes(2, size: 64, maxObject: 40);
        using var dir = TestPaths.NewTempDir();
        var model = DetectorFixtures.TinyAtss(6, new NanLogitsAfter(1), seed: 3);
        using var t = new Trainer(model, DetectorFixtures.TrainLoader(data, 64), new TrainerOptions(Epochs: 2, WarmupIterations: 1, EvaluateEveryEpochs: 0), dir, data.ClassNames);
        var e = Assert.Throws<NonFiniteLossException>(() => t.Run());
        Assert.Contains("iteration 1", e.Message);
        Assert.Contains("logits contain NaN", e.Message);
        Assert.Contains("not written yet", e.Message);
        Assert.Contains("--lr", e.Message);
    }

    [Fact]
    public void TheLossStillRefusesNanLogitsAsInvalidInput()
    {
        using var logits = full(3, 2, double.NaN);
        using var labels = tensor(new long[] { 0, 2, 1 });
        var e = Assert.ThrowsAny<ArgumentException>(() => new SigmoidFocalLoss().Forward([new ClassificationLevelInput(logits, labels)]));
        Assert.IsType<NonFiniteInputException>(e);
        Assert.Contains("6 of 6", e.Message);
    }

    static IterationLog Entry(int iteration, double negLogP) => new(1, iteration, iteration, 4, 1.5, new Dictionary<string, double> { ["classification"] = 1.0, ["box"] = 0.25, ["centerness"] = double.NaN }, 0.01,
        [2.0], [0.25], [3], [negLogP], 10, 1000, 5, null);

    [Fact]
    public void UndefinedNumbersAreWrittenAsNullAndReadBackAsNaN()
    {
        var line = TrainingLogJson.ToLine(Entry(1, double.NaN));
        Assert.Contains("\"mean_neg_log_p\":[null]", line);
        Assert.Contains("\"centerness\":null", line);
        Assert.DoesNotContain("NaN", line);
        using (var doc = System.Text.Json.JsonDocument.Parse(line)) Assert.Equal(1, doc.RootElement.GetProperty("iteration").GetInt32());
        using var dir = TestPaths.NewTempDir();
        var path = Path.Combine(dir, "log.jsonl");
        // The current form, and the quoted "NaN" older logs hold.
        File.WriteAllLines(path, [line, line.Replace("\"iteration\":1,", "\"iteration\":2,").Replace("[null]", "[\"NaN\"]")]);
        var read = TrainingLogJson.Read(path).Iterations;
        Assert.Equal(2, read.Count);
        Assert.True(double.IsNaN(read[0].MeanNegLogP[0]));
        Assert.True(double.IsNaN(read[1].MeanNegLogP[0]));
        Assert.True(double.IsNaN(read[0].Losses["centerness"]));
        Assert.Equal(0.25, read[0].Losses["box"]);
        Assert.Equal(1.5, read[0].Loss);
    }

    [Fact]
    public void TruncatingKeepsTheLinesUpToTheCheckpointsIteration()
    {
        using var dir = TestPaths.NewTempDir();
        var path = Path.Combine(dir, "log.jsonl");
        var eval = TrainingLogJson.ToLine(new EvaluationLog(1, 2, new double[12], [0.5], 0.5, 1.0));
        File.WriteAllLines(path, [.. new[] { 1, 2 }.Select(i => TrainingLogJson.ToLine(Entry(i, 0.7))), eval,
            TrainingLogJson.ToLine(Entry(3, 0.7)), "{\"type\":\"iter\",\"epo"]);
        TrainingLogJson.TruncateAfter(path, 2);
        var (iterations, evaluations) = TrainingLogJson.Read(path);
        Assert.Equal([1, 2], iterations.Select(i => i.Iteration));
        Assert.Single(evaluations);
    }

    [Fact]
    public void ResumingDropsTheLinesOfIterationsItWillReplay()
    {
        var data = DetectorFixtures.Shapes(4, size: 64, maxObject: 40);
        using var dir = TestPaths.NewTempDir();
        // One iteration and a checkpoint; then a crash after logging two more.
        var checkpoint = TrainOneIteration(data, dir);
        var log = Path.Combine(dir, "log.jsonl");
        Assert.Equal([1], TrainingLogJson.Read(log).Iterations.Select(i => i.Iteration));
        File.AppendAllLines(log, [TrainingLogJson.ToLine(Entry(2, 0.7)), TrainingLogJson.ToLine(Entry(3, 0.7)), "{\"type\":\"it"]);

        using var resumed = new Trainer(DetectorFixtures.TinyAtss(6, seed: 2), DetectorFixtures.TrainLoader(data, 64),
            new TrainerOptions(Epochs: 2, WarmupIterations: 1, EvaluateEveryEpochs: 0), dir, data.ClassNames);
        resumed.Resume(checkpoint);
        Assert.Equal(1, resumed.Iteration);
        Assert.Equal([1], TrainingLogJson.Read(log).Iterations.Select(i => i.Iteration));
    }

    [Fact]
    public void EveryTrainingProcessLogsWhereItStartedAndItsThreadCount()
    {
        var data = DetectorFixtures.Shapes(4, size: 64, maxObject: 40);
        using var dir = TestPaths.NewTempDir();
        var checkpoint = TrainOneIteration(data, dir);
        using (var resumed = new Trainer(DetectorFixtures.TinyAtss(6, seed: 2), DetectorFixtures.TrainLoader(data, 64),
                   new TrainerOptions(Epochs: 2, WarmupIterations: 1, EvaluateEveryEpochs: 0, MaxIterations: 2), dir, data.ClassNames))
        {
            resumed.Resume(checkpoint);
            resumed.Run();
        }
        var log = Path.Combine(dir, "log.jsonl");
        var starts = TrainingLogJson.ReadRunStarts(log);
        Assert.Equal([0, 1], starts.Select(s => s.Iteration));
        Assert.All(starts, s => Assert.Equal(get_num_threads(), s.TorchThreads));
        Assert.All(starts, s => Assert.Equal("fp32", s.Precision));
        Assert.All(starts, s => Assert.Equal(CpuFeatures.Current, s.Cpu));
        Assert.Equal([1, 2], TrainingLogJson.Read(log).Iterations.Select(i => i.Iteration));
        // Resuming from iteration 1 again drops iteration 2's line but keeps both records (each starts at or before 1).
        TrainingLogJson.TruncateAfter(log, 1);
        Assert.Equal([0, 1], TrainingLogJson.ReadRunStarts(log).Select(s => s.Iteration));
    }

    /// <summary>Trains a tiny ATSS for one iteration into <paramref name="dir"/> (MaxIterations stops there); returns its checkpoint.</summary>
    static string TrainOneIteration(DetectionDataset data, string dir)
    {
        using var t = new Trainer(DetectorFixtures.TinyAtss(6, seed: 1), DetectorFixtures.TrainLoader(data, 64),
            new TrainerOptions(Epochs: 2, WarmupIterations: 1, EvaluateEveryEpochs: 0, MaxIterations: 1), dir, data.ClassNames);
        return t.Run().LastCheckpoint;
    }
}
