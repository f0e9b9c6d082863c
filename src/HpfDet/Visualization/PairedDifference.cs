using System.Globalization;
using MathNet.Numerics.Distributions;

namespace HpfDet.Visualization;

/// <summary>
/// A paired comparison of two sets of runs matched by seed: the differences second − first, their mean,
/// sample standard deviation (n − 1), the paired t statistic mean / (std / √n) and its two-sided p-value
/// under Student's t with n − 1 degrees of freedom.
/// </summary>
/// <param name="Mean">Mean of the differences; NaN when there are none.</param>
/// <param name="Std">Sample standard deviation of the differences; NaN for n &lt; 2.</param>
/// <param name="Count">Number of pairs.</param>
/// <param name="T">Paired t statistic; NaN for n &lt; 2 or when every difference is 0; ±∞ when the differences are equal and not 0.</param>
/// <param name="P">Two-sided p-value; NaN where <paramref name="T"/> is NaN.</param>
public sealed record PairedDifference(double Mean, double Std, int Count, double T, double P)
{
    /// <summary>The statistics of the differences (their non-finite values are left out).</summary>
    public static PairedDifference Of(IEnumerable<double> differences)
    {
        var d = differences.Where(double.IsFinite).ToArray();
        int n = d.Length;
        if (n == 0) return new(double.NaN, double.NaN, 0, double.NaN, double.NaN);
        double mean = d.Average();
        if (n < 2) return new(mean, double.NaN, n, double.NaN, double.NaN);
        double std = Math.Sqrt(d.Sum(v => (v - mean) * (v - mean)) / (n - 1));
        if (std == 0)
            // Equal differences: no spread to test against; a non-zero one is as far from 0 as it gets.
            return mean == 0 ? new(mean, std, n, double.NaN, double.NaN) : new(mean, std, n, Math.CopySign(double.PositiveInfinity, mean), 0);
        double t = mean / (std / Math.Sqrt(n));
        double p = 2 * StudentT.CDF(0, 1, n - 1, -Math.Abs(t));
        return new(mean, std, n, t, Math.Min(1, p));
    }

    /// <summary>
    /// Pairs the runs of <paramref name="first"/> and <paramref name="second"/> that share a seed (a value
    /// that is not finite or negative, COCO's -1 for undefined, leaves its pair out) and returns the
    /// statistics of second − first, with the seeds used.
    /// </summary>
    public static (PairedDifference Difference, IReadOnlyList<int> Seeds) BySeed(IReadOnlyDictionary<int, double> first, IReadOnlyDictionary<int, double> second)
    {
        var seeds = first.Keys.Intersect(second.Keys).Where(s => Defined(first[s]) && Defined(second[s])).Order().ToList();
        return (Of(seeds.Select(s => second[s] - first[s])), seeds);
    }

    static bool Defined(double v) => double.IsFinite(v) && v >= 0;

    /// <summary>"+0.012" (signed, three decimals); "–" when undefined.</summary>
    public string MeanText => double.IsFinite(Mean) ? Mean.ToString("+0.000;-0.000;0.000", CultureInfo.InvariantCulture) : "–";

    /// <summary>"0.010"; "–" for n &lt; 2.</summary>
    public string StdText => double.IsFinite(Std) ? Std.ToString("0.000", CultureInfo.InvariantCulture) : "–";

    /// <summary>"3.46", "∞", "-∞"; "–" when undefined.</summary>
    public string TText => double.IsNaN(T) ? "–" : double.IsInfinity(T) ? (T > 0 ? "∞" : "-∞") : T.ToString("0.00", CultureInfo.InvariantCulture);

    /// <summary>"0.0742", "&lt; 0.0001"; "–" when undefined.</summary>
    public string PText => double.IsNaN(P) ? "–" : P < 1e-4 ? "< 0.0001" : P.ToString("0.0000", CultureInfo.InvariantCulture);
}
