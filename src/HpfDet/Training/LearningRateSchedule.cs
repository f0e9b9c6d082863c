namespace HpfDet.Training;

/// <summary>
/// Linear warm-up then step decay (mmdetection's 1x schedule): lr(i) = base·factor^(steps passed at
/// the iteration's epoch), multiplied during the first <see cref="WarmupIterations"/> iterations by
/// ratio + (1 - ratio)·i / warmup.
/// </summary>
/// <param name="BaseLearningRate">Learning rate after warm-up and before any decay.</param>
/// <param name="WarmupIterations">Iterations of linear warm-up (0: none).</param>
/// <param name="WarmupRatio">Starting fraction of the learning rate.</param>
/// <param name="DecayEpochs">0-based epochs from which the next decay applies (e.g. 8 and 11 of 12).</param>
/// <param name="DecayFactor">Multiplier per decay step.</param>
public sealed record LearningRateSchedule(double BaseLearningRate, int WarmupIterations, double WarmupRatio, int[] DecayEpochs, double DecayFactor = 0.1)
{
    /// <summary>Decay epochs at fractions 8/12 and 11/12 of the run, as the 1x schedule.</summary>
    public static int[] DefaultDecayEpochs(int epochs) =>
        [(int)Math.Round(epochs * 8.0 / 12), (int)Math.Round(epochs * 11.0 / 12)];

    /// <summary>Learning rate of 0-based global <paramref name="iteration"/> in 0-based <paramref name="epoch"/>.</summary>
    public double At(int iteration, int epoch)
    {
        double lr = BaseLearningRate * Math.Pow(DecayFactor, DecayEpochs.Count(e => epoch >= e));
        if (iteration < WarmupIterations)
            lr *= WarmupRatio + (1 - WarmupRatio) * iteration / WarmupIterations;
        return lr;
    }
}
