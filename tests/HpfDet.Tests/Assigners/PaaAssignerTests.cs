using HpfDet.Assigners;

namespace HpfDet.Tests.Assigners;

public class PaaAssignerTests
{
    [Fact]
    public void SeparationKeepsTheForegroundCandidatesUpToTheDensest()
    {
        // Candidates in ascending score order. Component 0 (foreground): indices 0, 1, 3; of these index 1 has
        // the highest log density (-0.5), so 0 and 1 are positive; 3 is foreground but after it, 2 and 4 are background.
        Assert.Equal([0, 1], PaaAssigner.Separate([0, 0, 1, 0, 1], [-1.0, -0.5, -0.2, -2.0, -3.0]));
        // The densest foreground candidate last: all foreground candidates.
        Assert.Equal([0, 1, 3], PaaAssigner.Separate([0, 0, 1, 0], [-3.0, -2.0, 5.0, -1.0]));
        // No foreground candidate: none.
        Assert.Empty(PaaAssigner.Separate([1, 1], [-1.0, -2.0]));
        // Equal densities: the first.
        Assert.Equal([0], PaaAssigner.Separate([0, 0, 0], [-1.0, -1.0, -1.0]));
    }

    [Fact]
    public void ReassignPoolsTheTopKPerLevelAndSplitsThemByTheMixture()
    {
        // Ground truth 0 with TopK 2. Level 0 scores 0.1, 0.2, 5.0 → 0.1, 0.2 kept; level 1 scores 0.15, 4.8, 4.9 →
        // 0.15, 4.8 kept; 5.0 and 4.9 become background. Pooled, sorted: 0.1, 0.15, 0.2, 4.8; the mixture starts at
        // means 0.1 and 4.8 and separates {0.1, 0.15, 0.2} (mean 0.15, variance (0.05² + 0 + 0.05²)/3 ≈ 0.00167) from
        // {4.8}. The foreground candidate of highest density is the one at the mean, 0.15: positives are 0.1 and 0.15.
        // Ground truth 1 has a single candidate (index 6): no mixture can be fitted, so it gets no positive.
        PaaCandidate[] pool =
        [
            new(0, 0, 0.1), new(0, 0, 0.2), new(0, 0, 5.0),
            new(0, 1, 0.15), new(0, 1, 4.8), new(0, 1, 4.9),
            new(1, 1, 0.05),
        ];
        var positive = new PaaAssigner(new PaaAssignerOptions(TopK: 2)).Reassign(pool);
        Assert.Equal([true, false, false, true, false, false, false], positive);
    }

    [Fact]
    public void InterleavedGroundTruthsAreReassignedIndependently()
    {
        // Ground truth 0: scores 0.3, 0.31, 0.32 (level 0) and 3.0 (level 1); ground truth 1: 1.0, 1.0 (identical).
        // GT 0: foreground {0.3, 0.31, 0.32}, densest at its mean 0.31 → 0.3 and 0.31 positive.
        // GT 1: both in component 0 with equal densities → only the first (index 1 of the pool) positive, no NaN.
        PaaCandidate[] pool = [new(0, 0, 0.3), new(1, 0, 1.0), new(0, 0, 0.31), new(1, 0, 1.0), new(0, 0, 0.32), new(0, 1, 3.0)];
        var positive = new PaaAssigner().Reassign(pool);
        Assert.Equal([true, true, true, false, false, false], positive);
    }

    [Fact]
    public void NonFiniteScoresGiveNoPositivesInsteadOfNaN()
    {
        PaaCandidate[] pool = [new(0, 0, 0.1), new(0, 0, double.NaN), new(0, 0, 0.2)];
        Assert.Equal([false, false, false], new PaaAssigner().Reassign(pool));
    }

    [Fact]
    public void FewerThanTwoScoresSelectNothing()
    {
        Assert.Empty(PaaAssigner.SelectPositives([]));
        Assert.Empty(PaaAssigner.SelectPositives([0.4]));
        // Two scores far apart: each its own component; the foreground one is positive.
        Assert.Equal([0], PaaAssigner.SelectPositives([0.1, 5.0]));
    }
}
