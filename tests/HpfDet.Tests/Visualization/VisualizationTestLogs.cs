using HpfDet.Training;

namespace HpfDet.Tests.Visualization;

/// <summary>Hand-made training log records for the chart tests.</summary>
static class VisualizationTestLogs
{
    /// <summary>
    /// <paramref name="count"/> iterations over 5 levels: losses decaying, γ rising to the clamp bound 4,
    /// NaN γ / -log p on P7 every 7th step, and one batch without positives (iteration 10).
    /// </summary>
    public static List<IterationLog> Iterations(int count = 50, double lossScale = 1.0)
    {
        var list = new List<IterationLog>();
        for (var i = 1; i <= count; i++)
        {
            var t = i / (double)count;
            var gamma = new[] { 1 + 3 * t, 1.5 + 3 * t, 2.0, Math.Min(4, 1 + 6 * t), i % 7 == 0 ? double.NaN : 2.5 };
            var positives = i == 10 ? new long[5] : new long[] { 40 + i % 5, 30, 20, 8, 2 };
            var negLogP = new[] { 1 - 0.5 * t, 1.1 - 0.5 * t, 1.2, 1.3, i % 7 == 0 ? double.NaN : 1.4 };
            list.Add(new IterationLog(
                Epoch: 1 + (i - 1) / 10, Iteration: i, EpochIteration: 1 + (i - 1) % 10, IterationsPerEpoch: 10,
                Loss: lossScale * (2.0 - t + 0.1 * Math.Sin(i)), Losses: new Dictionary<string, double> { ["classification"] = lossScale * (1.0 - 0.5 * t), ["box"] = 0.6 - 0.3 * t,
                    ["centerness"] = 0.4 + 0.01 * Math.Cos(i) }, LearningRate: i < 10 ? 0.01 * i / 10 : 0.01,
                Gamma: gamma, Alpha: [0.25, 0.25, 0.3, 0.35, 0.4], Positives: positives, MeanNegLogP: negLogP,
                ImagesPerSecond: 12, ResidentMemoryBytes: 1L << 30, LiveTensors: 100, GradNorm: null));
        }
        return list;
    }

    public static List<EvaluationLog> Evaluations(int epochs = 5) =>
        Enumerable.Range(1, epochs)
            .Select(e => new EvaluationLog(e, e * 10, [0.1 * e / epochs + 0.2, 0.5 + 0.05 * e, 0.3, -1, 0.2, 0.4, 0.1, 0.2, 0.3, -1, 0.2, 0.4],
                [0.3, 0.2, -1], 0.5 + 0.05 * e, 1.5))
            .ToList();
}
