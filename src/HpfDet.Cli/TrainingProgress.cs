using System.Diagnostics;
using HpfDet.Training;
using Spectre.Console;

namespace HpfDet.Cli;

/// <summary>
/// Shows training progress: a live bar with ETA, images/s, loss, lr and per-level γ when attached to a
/// terminal; plain periodic lines otherwise (CI, files).
/// </summary>
public sealed class TrainingProgress : IDisposable
{
    readonly Trainer trainer;
    readonly string label;
    readonly bool interactive;
    readonly Stopwatch clock = Stopwatch.StartNew();
    readonly int startIteration;
    TimeSpan? lastPlain;
    double smoothedLoss = double.NaN, smoothedIps = double.NaN;
    ProgressTask? task;

    public TrainingProgress(Trainer trainer, string label, int startIteration)
    {
        this.trainer = trainer;
        this.label = label;
        this.startIteration = startIteration;
        interactive = !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
    }

    /// <summary>Runs <paramref name="work"/> with progress shown.</summary>
    public T Run<T>(Func<T> work)
    {
        trainer.IterationCompleted += OnIteration;
        trainer.Evaluated += OnEvaluated;
        try
        {
            if (!interactive) return work();
            T result = default!;
            AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .Start(ctx =>
                {
                    task = ctx.AddTask(Markup.Escape(label), maxValue: trainer.TotalIterations);
                    task.Value = startIteration;
                    result = work();
                    task.Value = task.MaxValue;
                });
            return result;
        }
        finally
        {
            trainer.IterationCompleted -= OnIteration;
            trainer.Evaluated -= OnEvaluated;
        }
    }

    void OnIteration(IterationLog log)
    {
        smoothedLoss = double.IsNaN(smoothedLoss) ? log.Loss : 0.9 * smoothedLoss + 0.1 * log.Loss;
        smoothedIps = double.IsNaN(smoothedIps) ? log.ImagesPerSecond : 0.9 * smoothedIps + 0.1 * log.ImagesPerSecond;
        string gammas = log.Gamma.Length > 0 ? " γ " + string.Join("/", log.Gamma.Select(g => g.ToString("F2"))) : "";
        string line = $"{label} ep {log.Epoch}/{trainer.Options.Epochs} it {log.Iteration}/{trainer.TotalIterations} loss {smoothedLoss:F3} lr {log.LearningRate:G3} {smoothedIps:F1} img/s{gammas}";
        if (task is not null)
        {
            task.Description = Markup.Escape(line);
            task.Value = log.Iteration;
            return;
        }
        var now = clock.Elapsed;
        if (lastPlain is null || log.Iteration == trainer.TotalIterations || now - lastPlain.Value >= TimeSpan.FromSeconds(10))
        {
            lastPlain = now;
            int done = log.Iteration - startIteration;
            var eta = done > 0 ? TimeSpan.FromSeconds(now.TotalSeconds / done * (trainer.TotalIterations - log.Iteration)) : TimeSpan.Zero;
            Console.WriteLine($"{line} eta {eta:hh\\:mm\\:ss}");
        }
    }

    void OnEvaluated(EvaluationLog e)
    {
        string text = $"{label} eval after epoch {e.Epoch}: AP {e.Stats[0]:F3} AP50 {e.Stats[1]:F3} AP75 {e.Stats[2]:F3} VOC mAP50 {e.VocMap50:F3} ({e.Seconds:F1} s)";
        if (task is not null) AnsiConsole.MarkupLine(Markup.Escape(text));
        else Console.WriteLine(text);
    }

    public void Dispose() => clock.Stop();
}
