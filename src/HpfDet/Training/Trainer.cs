using System.Diagnostics;
using HpfDet.Data;
using HpfDet.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Training;

/// <summary>Options of <see cref="Trainer"/>; defaults follow mmdetection's 1x schedule for ATSS.</summary>
/// <param name="Epochs">Training epochs.</param>
/// <param name="LearningRate">Base learning rate (0.01 for batch 16 in the 1x schedule; scale linearly).</param>
/// <param name="Momentum">SGD momentum.</param>
/// <param name="WeightDecay">L2 weight decay.</param>
/// <param name="WarmupIterations">Linear warm-up iterations.</param>
/// <param name="WarmupRatio">Starting fraction of the learning rate during warm-up.</param>
/// <param name="DecayEpochs">0-based epochs where the learning rate is multiplied by 0.1; null means 8/12 and 11/12 of the run.</param>
/// <param name="GradientClipNorm">Clip the total gradient norm to this value; null disables clipping.</param>
/// <param name="EvaluateEveryEpochs">Evaluate after every N epochs (and after the last); 0 disables.</param>
/// <param name="MaxIterations">Stop after this many global iterations (null: run all epochs).</param>
/// <param name="LogEveryIterations">Write a log line every N iterations (the first and last always).</param>
/// <param name="Precision">Float32, or BFloat16: bfloat16 working copy with float32 master weights (<see cref="BFloat16Training"/>); evaluations during training then run in bfloat16 too.</param>
/// <param name="CheckpointEveryEpochs">Write the checkpoint after every N epochs; 0 writes it only after the last epoch. The last epoch's and an interrupted run's are always written.</param>
/// <param name="BackboneLrMultiplier">Multiplier of the learning rate for the backbone's parameters (names starting "backbone.").</param>
public sealed record TrainerOptions(
    int Epochs = 12,
    double LearningRate = 0.01,
    double Momentum = 0.9,
    double WeightDecay = 1e-4,
    int WarmupIterations = 500,
    double WarmupRatio = 0.001,
    int[]? DecayEpochs = null,
    double? GradientClipNorm = null,
    int EvaluateEveryEpochs = 1,
    int? MaxIterations = null,
    int LogEveryIterations = 1,
    ComputePrecision Precision = ComputePrecision.Float32,
    int CheckpointEveryEpochs = 1,
    double BackboneLrMultiplier = 1.0);

/// <summary>How a <see cref="Trainer.Run"/> ended.</summary>
public enum TrainingOutcome { Completed, Interrupted }

/// <summary>The end state of a run.</summary>
public sealed record TrainingResult(TrainingOutcome Outcome, int Epoch, int Iteration, string LastCheckpoint, EvaluationLog? LastEvaluation);

/// <summary>A NaN or Inf loss: training stopped; the last good checkpoint is kept.</summary>
public sealed class NonFiniteLossException(string message) : HpfDetException(message);

/// <summary>
/// Trains any <see cref="DenseDetector"/>: SGD with momentum, linear warm-up and step decay, optional
/// gradient clipping, evaluation every N epochs, a JSONL log line per iteration, and atomic
/// checkpoints (model, optimizer, position, RNG) from which <see cref="Resume"/> continues exactly.
/// Writes only into its run folder; reports progress through events.
/// </summary>
public sealed class Trainer : IDisposable
{
    readonly DenseDetector model;
    readonly DataLoader loader;
    readonly Func<DenseDetector, int, int, EvaluationLog?>? evaluate;
    readonly SgdMomentum optimizer;
    readonly LearningRateSchedule schedule;
    readonly IReadOnlyList<string> classNames;
    readonly System.Text.Json.Nodes.JsonObject? config;
    BFloat16Training? bfloat16;
    int epoch, epochIteration, iteration;

    public TrainerOptions Options { get; }
    public string RunDirectory { get; }
    public string CheckpointDirectory => Path.Combine(RunDirectory, "checkpoints");
    public string LogPath => Path.Combine(RunDirectory, "log.jsonl");
    public int IterationsPerEpoch => loader.BatchesPerEpoch;
    /// <summary>Global iterations done (after <see cref="Resume"/>, the checkpoint's).</summary>
    public int Iteration => iteration;
    public int TotalIterations => Options.MaxIterations is { } m ? Math.Min(m, Options.Epochs * IterationsPerEpoch) : Options.Epochs * IterationsPerEpoch;

    /// <summary>Raised after every iteration (also those not written to the log).</summary>
    public event Action<IterationLog>? IterationCompleted;
    /// <summary>Raised after every evaluation.</summary>
    public event Action<EvaluationLog>? Evaluated;
    /// <summary>Raised with the path of every checkpoint written.</summary>
    public event Action<string>? CheckpointWritten;

    /// <param name="model">The detector (its classification loss decides FL/HPF/QFL/VFL).</param>
    /// <param name="trainLoader">Shuffling training loader.</param>
    /// <param name="options">Schedule and optimiser.</param>
    /// <param name="runDirectory">Folder for log.jsonl and checkpoints/.</param>
    /// <param name="classNames">Stored in checkpoints.</param>
    /// <param name="evaluate">Called with (model, 1-based epoch, iteration) when an evaluation is due; null disables evaluation.</param>
    /// <param name="config">The run's configuration, stored in checkpoints so that eval/detect can rebuild the model.</param>
    public Trainer(DenseDetector model, DataLoader trainLoader, TrainerOptions options, string runDirectory, IReadOnlyList<string> classNames,
        Func<DenseDetector, int, int, EvaluationLog?>? evaluate = null, System.Text.Json.Nodes.JsonObject? config = null)
    {
        TorchRuntime.EnsureCorrectConvolutions();
        this.model = model;
        loader = trainLoader;
        Options = options;
        RunDirectory = runDirectory;
        this.classNames = classNames;
        this.evaluate = evaluate;
        this.config = config;
        if (options.Epochs < 1) throw new HpfDetException($"epochs must be at least 1, got {options.Epochs}.");
        if (!(options.LearningRate > 0)) throw new HpfDetException($"lr must be positive, got {options.LearningRate}.");
        if (loader.BatchesPerEpoch == 0) throw new HpfDetException("The training set gives no batch: it is empty or smaller than the batch size with drop_last.");
        optimizer = new SgdMomentum(model.named_parameters(), options.Momentum, options.WeightDecay,
            options.BackboneLrMultiplier == 1.0 ? null : name => name.StartsWith("backbone.", StringComparison.Ordinal) ? options.BackboneLrMultiplier : 1.0);
        schedule = new LearningRateSchedule(options.LearningRate, options.WarmupIterations, options.WarmupRatio,
            options.DecayEpochs ?? LearningRateSchedule.DefaultDecayEpochs(options.Epochs));
        Directory.CreateDirectory(CheckpointDirectory);
    }

    /// <summary>Continues from a checkpoint: weights, optimizer state, position and RNG.</summary>
    public void Resume(string checkpointPath)
    {
        if (bfloat16 is not null) throw new InvalidOperationException("Resume before Run: a bf16 run has already converted the detector.");
        var (info, tensors) = Checkpoint.Load(checkpointPath);
        try
        {
            Checkpoint.ApplyToModel(tensors, model, checkpointPath);
            optimizer.LoadState(Checkpoint.OptimizerState(tensors));
            if (tensors.TryGetValue("rng.torch", out var rng)) torch.set_rng_state(rng);
            epoch = info.Epoch;
            epochIteration = info.EpochIteration;
            iteration = info.Iteration;
            // Iterations logged after this checkpoint (before a crash) are trained again: drop their lines.
            if (File.Exists(LogPath)) TrainingLogJson.TruncateAfter(LogPath, iteration);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    /// <summary>Trains until the last epoch (or MaxIterations), or until cancelled (then checkpoints and returns).</summary>
    public TrainingResult Run(CancellationToken cancellationToken = default)
    {
        // After Resume, which loads into the float32 detector: the masters start from the resumed state.
        if (Options.Precision == ComputePrecision.BFloat16 && bfloat16 is null) bfloat16 = BFloat16Training.Start(model, optimizer);
        model.train();
        string last = Path.Combine(CheckpointDirectory, "last.ckpt");
        EvaluationLog? lastEval = null;
        using var log = new StreamWriter(LogPath, append: true) { AutoFlush = true };
        log.WriteLine(TrainingLogJson.ToLine(new RunStartLog(iteration, torch.get_num_threads(), ComputePrecisionNames.Name(Options.Precision),
            HpfDetVersion.Informational, DateTimeOffset.UtcNow, CpuFeatures.Current)));
        while (epoch < Options.Epochs && iteration < TotalIterations)
        {
            int skip = epochIteration;
            var batches = loader.Epoch(epoch, cancellationToken).GetEnumerator();
            try
            {
                // A resumed epoch skips the batches already trained on (same order: the loader is seeded by epoch).
                for (int s = 0; s < skip && batches.MoveNext(); s++) batches.Current.Dispose();
                while (iteration < TotalIterations)
                {
                    if (cancellationToken.IsCancellationRequested)
                    {
                        SaveCheckpoint(last);
                        return new TrainingResult(TrainingOutcome.Interrupted, epoch, iteration, last, lastEval);
                    }
                    bool more;
                    try { more = batches.MoveNext(); }
                    catch (OperationCanceledException)
                    {
                        SaveCheckpoint(last);
                        return new TrainingResult(TrainingOutcome.Interrupted, epoch, iteration, last, lastEval);
                    }
                    if (!more) break;
                    IterationLog entry;
                    using (var batch = batches.Current) entry = Step(batch, last);
                    entry = entry with { LiveTensors = LiveTensors() };
                    if (iteration == 1 || iteration % Options.LogEveryIterations == 0 || iteration == TotalIterations || epochIteration == IterationsPerEpoch)
                        log.WriteLine(TrainingLogJson.ToLine(entry));
                    IterationCompleted?.Invoke(entry);
                }
            }
            finally
            {
                batches.Dispose();
            }
            bool epochDone = epochIteration >= IterationsPerEpoch;
            if (epochDone)
            {
                epoch++;
                epochIteration = 0;
            }
            bool finished = epoch >= Options.Epochs || iteration >= TotalIterations;
            // After the last epoch always; otherwise after every Nth completed epoch (0: never).
            bool due(int every) => finished || (epochDone && every > 0 && epoch % every == 0);
            // A checkpoint of a large model takes a fraction of a second (tens of MB, synced to disk): runs of
            // many short epochs may keep every Nth; an interrupted run's is written where it stops (above).
            if (due(Options.CheckpointEveryEpochs)) SaveCheckpoint(last);
            if (evaluate is not null && due(Options.EvaluateEveryEpochs))
            {
                lastEval = evaluate(model, epochDone ? epoch : epoch + 1, iteration);
                model.train();
                if (lastEval is not null)
                {
                    log.WriteLine(TrainingLogJson.ToLine(lastEval));
                    Evaluated?.Invoke(lastEval);
                }
            }
        }
        return new TrainingResult(TrainingOutcome.Completed, epoch, iteration, last, lastEval);
    }

    IterationLog Step(DetectionBatch batch, string lastCheckpoint)
    {
        var sw = Stopwatch.StartNew();
        using var scope = torch.NewDisposeScope();
        var targets = new DetectionTarget[batch.Count];
        for (int i = 0; i < batch.Count; i++) targets[i] = new DetectionTarget(batch.Boxes[i], batch.Labels[i], batch.Ignored[i]);
        double lr = schedule.At(iteration, epoch);
        var sizes = batch.Meta.Select(m => (m.Height, m.Width)).ToArray();
        DetectionLosses losses;
        try { losses = model.ComputeLosses(batch.Images, targets, sizes); }
        catch (Losses.NonFiniteInputException e)
        {
            // The loss refuses NaN/Inf logits before computing anything: the same divergence as a NaN loss.
            throw Diverged($"The model's outputs became non-finite at epoch {epoch + 1}, iteration {iteration + 1} ({e.Message})", lastCheckpoint);
        }
        var total = losses.Total;
        // One read-back per step: the logged values, which also detect a diverged loss before any update.
        var values = torch.stack(losses.Terms.Select(t => t.Value).Prepend(total).ToArray()).to(ScalarType.Float64).cpu().data<double>().ToArray();
        var named = new Dictionary<string, double>();
        for (int i = 0; i < losses.Terms.Count; i++) named[losses.Terms[i].Name] = values[i + 1];
        if (values.Any(v => !double.IsFinite(v)))
            throw Diverged($"The loss became {values[0]} at epoch {epoch + 1}, iteration {iteration + 1} ({string.Join(", ", named.Select(kv => $"{kv.Key} {kv.Value}"))})", lastCheckpoint);
        optimizer.ZeroGrad();
        total.backward();
        double? gradNorm = Options.GradientClipNorm is not null ? optimizer.ClipGradNorm(Options.GradientClipNorm) : null;
        optimizer.Step(lr);
        iteration++;
        epochIteration++;
        var stats = model.ClassificationLoss.LastStatistics?.ToHost();
        double seconds = sw.Elapsed.TotalSeconds;
        using var process = Process.GetCurrentProcess();
        return new IterationLog(epoch + 1, iteration, epochIteration, IterationsPerEpoch,
            values[0], named, lr,
            stats?.Gamma ?? [], stats?.Alpha ?? [], stats?.Positives ?? [], stats?.MeanNegLogP ?? [],
            batch.Count / Math.Max(seconds, 1e-9), process.WorkingSet64, LiveTensors: 0, gradNorm);
    }

    static NonFiniteLossException Diverged(string what, string lastCheckpoint) => new(
        $"{what}. Training stopped before updating the weights; the last good checkpoint is {(File.Exists(lastCheckpoint) ? lastCheckpoint : "not written yet")}. " +
        "Lower the learning rate (--lr), lengthen the warm-up, or enable gradient clipping (--set train.grad_clip=35).");

    /// <summary>
    /// Tensors alive in the whole process (every thread: batches are made on loader threads and
    /// disposed on this one, so a per-thread count drifts), less the loaders' batches not yet disposed.
    /// Measured between steps, it is flat unless something keeps tensors from one step to the next.
    /// </summary>
    internal static long LiveTensors() => torch.Tensor.TotalCount - DetectionBatch.UndisposedTensorCount;

    void SaveCheckpoint(string path)
    {
        var info = new CheckpointInfo(epoch, epochIteration, iteration, classNames, config);
        if (bfloat16 is not null) Checkpoint.Save(path, info, bfloat16.MasterState, optimizer);
        else Checkpoint.Save(path, info, model, optimizer);
        CheckpointWritten?.Invoke(path);
    }

    public void Dispose()
    {
        optimizer.Dispose();
        bfloat16?.Dispose();
    }
}
