namespace HpfDet.Assigners;

/// <summary>Options of <see cref="PaaAssigner"/> (defaults: mmdetection 2.x's PAA).</summary>
/// <param name="TopK">Candidates of lowest score kept per ground truth and pyramid level before the mixture is fitted (9).</param>
/// <param name="Mixture">EM options of the two-component mixture (scikit-learn's defaults).</param>
public sealed record PaaAssignerOptions(int TopK = 9, GaussianMixture1DOptions? Mixture = null);

/// <summary>One prior that the first (max-IoU) assignment made positive, with its PAA score.</summary>
/// <param name="GroundTruth">Index of its ground truth.</param>
/// <param name="Level">Its pyramid level.</param>
/// <param name="Score">Its score: classification loss + box loss of the current prediction (lower is better).</param>
public readonly record struct PaaCandidate(int GroundTruth, int Level, double Score);

/// <summary>
/// Probabilistic anchor assignment (Kim &amp; Lee, ECCV 2020), the part after the scores: per ground truth,
/// the <see cref="PaaAssignerOptions.TopK"/> candidates of lowest score on each level are pooled and sorted
/// by score; a two-component 1-D Gaussian mixture is fitted to their scores (means initialised at the
/// lowest and the highest score, unit variances, equal weights, as mmdetection 2.x's PAAHead initialises
/// scikit-learn's GaussianMixture); the candidates of the low-score component, in score order, up to the
/// one the mixture gives the highest density, become positive (mmdetection's gmm_separation_scheme,
/// Fig. 3 (c) of the paper). Every other candidate becomes background, and so do all candidates of a
/// ground truth with fewer than two pooled candidates (no mixture can be fitted).
/// </summary>
public sealed class PaaAssigner
{
    public PaaAssignerOptions Options { get; }

    public PaaAssigner(PaaAssignerOptions? options = null)
    {
        Options = options ?? new PaaAssignerOptions();
        if (Options.TopK < 1) throw new HpfDetException($"PaaAssignerOptions: TopK must be >= 1, got {Options.TopK}.");
    }

    /// <summary>Which candidates stay positive.</summary>
    /// <param name="candidates">The positives of the first assignment.</param>
    /// <returns>Per candidate, whether it is positive after the reassignment.</returns>
    public bool[] Reassign(IReadOnlyList<PaaCandidate> candidates)
    {
        var positive = new bool[candidates.Count];
        foreach (var perGt in Enumerable.Range(0, candidates.Count).GroupBy(i => candidates[i].GroundTruth))
        {
            // Per level the TopK lowest scores (ties: the earlier prior), then all of them by score.
            var pooled = perGt.GroupBy(i => candidates[i].Level)
                .SelectMany(level => level.OrderBy(i => candidates[i].Score).ThenBy(i => i).Take(Options.TopK))
                .OrderBy(i => candidates[i].Score).ThenBy(i => i)
                .ToArray();
            var scores = pooled.Select(i => candidates[i].Score).ToArray();
            // A mixture of two needs two samples; a diverged prediction gives no assignment either (the
            // classification loss then reports the non-finite logits).
            if (scores.Length < 2 || scores.Any(s => !double.IsFinite(s))) continue;
            foreach (var k in SelectPositives(scores, Options.Mixture)) positive[pooled[k]] = true;
        }
        return positive;
    }

    /// <summary>
    /// Fits the two-component mixture to one ground truth's pooled scores (ascending) and returns the
    /// indices (into <paramref name="sortedScores"/>) of the positives.
    /// </summary>
    public static int[] SelectPositives(IReadOnlyList<double> sortedScores, GaussianMixture1DOptions? mixture = null)
    {
        if (sortedScores.Count < 2) return [];
        var mixtureFit = FitMixture(sortedScores, mixture);
        var components = sortedScores.Select(mixtureFit.Predict).ToArray();
        var densities = sortedScores.Select(mixtureFit.LogDensity).ToArray();
        return Separate(components, densities);
    }

    /// <summary>The mixture PAA fits: means at the lowest and highest score, variances 1, weights ½.</summary>
    public static GaussianMixture1D FitMixture(IReadOnlyList<double> scores, GaussianMixture1DOptions? mixture = null) =>
        GaussianMixture1D.Fit(scores, [0.5, 0.5], [scores.Min(), scores.Max()], [1.0, 1.0], mixture);

    /// <summary>
    /// The separation rule: of the candidates (in ascending score order) whose component is 0 (the
    /// low-score, foreground one), those up to and including the one of highest mixture log density
    /// (the first on ties) are positive; none when no candidate is in component 0.
    /// </summary>
    /// <param name="components">Per candidate its mixture component.</param>
    /// <param name="logDensities">Per candidate its log density under the mixture.</param>
    /// <returns>Indices of the positive candidates.</returns>
    public static int[] Separate(IReadOnlyList<int> components, IReadOnlyList<double> logDensities)
    {
        if (components.Count != logDensities.Count)
            throw new ArgumentException($"PaaAssigner.Separate: {components.Count} components but {logDensities.Count} densities.");
        var foreground = Enumerable.Range(0, components.Count).Where(i => components[i] == 0).ToArray();
        if (foreground.Length == 0) return [];
        int best = 0;
        for (int j = 1; j < foreground.Length; j++)
            if (logDensities[foreground[j]] > logDensities[foreground[best]]) best = j;
        return foreground[..(best + 1)];
    }
}
