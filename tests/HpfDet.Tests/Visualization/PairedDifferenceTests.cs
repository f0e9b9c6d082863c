using HpfDet.Visualization;

namespace HpfDet.Tests.Visualization;

public class PairedDifferenceTests
{
    [Fact]
    public void Paired_t_and_two_sided_p_match_the_hand_worked_example()
    {
        // Differences 0.01, 0.03, 0.02: mean 0.02; deviations -0.01, 0.01, 0 → Σ² = 0.0002, / (n − 1 = 2) = 0.0001,
        // sd 0.01; t = 0.02 / (0.01 / √3) = 2√3 = 3.4641. Student t with 2 df has the closed form
        // CDF(t) = 1/2 + t / (2√(2 + t²)), so p = 2(1 − CDF(|t|)) = 1 − |t| / √(2 + t²) = 1 − 3.4641 / √14
        // = 1 − 3.4641 / 3.7417 = 0.07418.
        var d = PairedDifference.Of([0.01, 0.03, 0.02]);
        Assert.Equal(3, d.Count);
        Assert.Equal(0.02, d.Mean, 12);
        Assert.Equal(0.01, d.Std, 12);
        Assert.Equal(2 * Math.Sqrt(3), d.T, 9);
        Assert.Equal(1 - 2 * Math.Sqrt(3) / Math.Sqrt(14), d.P, 9);
        Assert.Equal(0.07418, d.P, 5);
        Assert.Equal(("+0.020", "0.010", "3.46", "0.0742"), (d.MeanText, d.StdText, d.TText, d.PText));

        // The sign of the difference flips t, not p.
        var negative = PairedDifference.Of([-0.01, -0.03, -0.02]);
        Assert.Equal(-2 * Math.Sqrt(3), negative.T, 9);
        Assert.Equal(d.P, negative.P, 12);
    }

    [Fact]
    public void One_degree_of_freedom_is_the_Cauchy_distribution()
    {
        // Differences 0.25, 0.21: mean 0.23, sd 0.04 / √2 = 0.028284, t = 0.23 / (0.028284 / √2) = 0.23 / 0.02 = 11.5;
        // with 1 df, CDF(t) = 1/2 + atan(t)/π, so p = 1 − (2/π) atan(11.5) = 0.05522.
        var d = PairedDifference.Of([0.25, 0.21]);
        Assert.Equal(11.5, d.T, 9);
        Assert.Equal(1 - 2 / Math.PI * Math.Atan(11.5), d.P, 9);
        Assert.Equal("0.0552", d.PText);
    }

    [Fact]
    public void Fewer_than_two_pairs_or_no_spread_give_no_test()
    {
        var one = PairedDifference.Of([0.05]);
        Assert.Equal((1, "+0.050", "–", "–", "–"), (one.Count, one.MeanText, one.StdText, one.TText, one.PText));
        var none = PairedDifference.Of([]);
        Assert.Equal((0, "–", "–"), (none.Count, none.MeanText, none.PText));
        // Equal differences: no spread; zero gives no t, a non-zero one an infinite t.
        Assert.Equal("–", PairedDifference.Of([0.0, 0.0]).TText);
        var equal = PairedDifference.Of([0.02, 0.02]);
        Assert.Equal(("∞", "< 0.0001"), (equal.TText, equal.PText));
    }

    [Fact]
    public void Runs_pair_by_shared_seed_and_skip_undefined_values()
    {
        // Seeds 0-2 pair (differences 0.01, 0.03, 0.02 as above); seed 3 has no partner; seed 4's -1 is COCO's undefined.
        var first = new Dictionary<int, double> { [0] = 0.30, [1] = 0.40, [2] = 0.50, [4] = -1 };
        var second = new Dictionary<int, double> { [0] = 0.31, [1] = 0.43, [2] = 0.52, [3] = 0.90, [4] = 0.7 };
        var (d, seeds) = PairedDifference.BySeed(first, second);
        Assert.Equal([0, 1, 2], seeds);
        Assert.Equal(0.02, d.Mean, 12);
        Assert.Equal(0.0742, d.P, 4);
    }

    [Fact]
    public void Band_is_one_std_from_three_seeds_and_min_to_max_for_two()
    {
        // 0.1, 0.2, 0.6: mean 0.3, Σ deviations² = 0.04 + 0.01 + 0.09 = 0.14, / 2 → sd √0.07 = 0.26458.
        var (low, high) = EpochCurves.Band([0.1, 0.2, 0.6]);
        Assert.Equal(0.3 - Math.Sqrt(0.07), low, 12);
        Assert.Equal(0.3 + Math.Sqrt(0.07), high, 12);
        Assert.Equal((0.1, 0.6), EpochCurves.Band([0.6, 0.1]));
        Assert.Equal((0.4, 0.4), EpochCurves.Band([0.4]));
    }
}
