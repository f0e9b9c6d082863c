namespace HpfDet.Assigners;

/// <summary>Options of <see cref="GaussianMixture1D.Fit"/> (defaults: scikit-learn's GaussianMixture).</summary>
/// <param name="MaxIterations">EM iterations at most (100).</param>
/// <param name="Tolerance">EM stops once the mean log-likelihood changes by less than this between iterations (1e-3).</param>
/// <param name="VarianceFloor">Added to every variance estimate (scikit-learn's reg_covar, 1e-6): keeps identical
/// values from collapsing a component to zero variance.</param>
public sealed record GaussianMixture1DOptions(int MaxIterations = 100, double Tolerance = 1e-3, double VarianceFloor = 1e-6);

/// <summary>
/// A mixture of one-dimensional Gaussians fitted by expectation–maximisation from given initial
/// weights, means and variances, with scikit-learn's <c>GaussianMixture</c> loop (diagonal covariance,
/// which in one dimension is a variance per component): each iteration is an E-step then an M-step; the
/// log-likelihood the E-step computed is the convergence criterion; after the loop one more E-step
/// gives the responsibilities the labels come from.
/// <para>Differences from scikit-learn, all at rounding level: variances are Σ r·(x-μ)²/n_k (scikit-learn
/// expands this as Σ r·x²/n_k - 2μ·Σ r·x/n_k + μ²), and weights are n_k / Σ n_k (scikit-learn divides by the
/// sample count; n_k carries 10·ε either way).</para>
/// </summary>
public sealed class GaussianMixture1D
{
    const double Log2Pi = 1.8378770664093453;   // log(2π)
    const double MachineEpsilon = 2.220446049250313e-16;   // numpy's finfo(float64).eps

    GaussianMixture1D(double[] weights, double[] means, double[] variances, int iterations, bool converged, double logLikelihood)
    {
        Weights = weights;
        Means = means;
        Variances = variances;
        Iterations = iterations;
        Converged = converged;
        MeanLogLikelihood = logLikelihood;
    }

    /// <summary>Mixing weights per component (sum 1).</summary>
    public double[] Weights { get; }

    /// <summary>Mean per component.</summary>
    public double[] Means { get; }

    /// <summary>Variance per component (the variance floor included).</summary>
    public double[] Variances { get; }

    /// <summary>EM iterations run.</summary>
    public int Iterations { get; }

    /// <summary>Whether the log-likelihood change fell below the tolerance within the iterations allowed.</summary>
    public bool Converged { get; }

    /// <summary>Mean log-likelihood of the data under the parameters of the last E-step inside the loop (scikit-learn's lower bound).</summary>
    public double MeanLogLikelihood { get; }

    /// <summary>Number of components.</summary>
    public int Components => Means.Length;

    /// <summary>
    /// Fits the mixture to <paramref name="values"/> from the given initial parameters (one entry per component).
    /// </summary>
    /// <exception cref="ArgumentException">No values, a non-finite value, initial arrays of different lengths, a
    /// non-positive initial variance or weight.</exception>
    public static GaussianMixture1D Fit(IReadOnlyList<double> values, double[] initialWeights, double[] initialMeans, double[] initialVariances, GaussianMixture1DOptions? options = null)
    {
        options ??= new GaussianMixture1DOptions();
        int n = values.Count, k = initialMeans.Length;
        if (n == 0) throw new ArgumentException("GaussianMixture1D: no values to fit.", nameof(values));
        if (k == 0 || initialWeights.Length != k || initialVariances.Length != k)
            throw new ArgumentException($"GaussianMixture1D: {initialWeights.Length} weights, {k} means and {initialVariances.Length} variances; give one of each per component (at least one).");
        if (values.Any(v => !double.IsFinite(v))) throw new ArgumentException("GaussianMixture1D: the values contain NaN or Inf.", nameof(values));
        if (initialVariances.Any(v => !(v > 0)) || initialWeights.Any(w => !(w > 0)) || initialMeans.Any(m => !double.IsFinite(m)))
            throw new ArgumentException("GaussianMixture1D: initial variances and weights must be > 0 and means finite.");
        if (!(options.VarianceFloor > 0)) throw new ArgumentException($"GaussianMixture1D: VarianceFloor must be > 0, got {options.VarianceFloor}.", nameof(options));
        if (options.MaxIterations < 1) throw new ArgumentException($"GaussianMixture1D: MaxIterations must be >= 1, got {options.MaxIterations}.", nameof(options));

        var weights = (double[])initialWeights.Clone();
        var means = (double[])initialMeans.Clone();
        var variances = (double[])initialVariances.Clone();
        var resp = new double[n * k];
        double lowerBound = double.NegativeInfinity;
        bool converged = false;
        int iteration = 0;
        while (iteration < options.MaxIterations)
        {
            iteration++;
            double previous = lowerBound;
            lowerBound = EStep(values, weights, means, variances, resp);
            MStep(values, resp, weights, means, variances, options.VarianceFloor);
            if (Math.Abs(lowerBound - previous) < options.Tolerance) { converged = true; break; }
        }
        return new GaussianMixture1D(weights, means, variances, iteration, converged, lowerBound);
    }

    /// <summary>log(w_j · N(x | μ_j, σ_j²)) for component j.</summary>
    double WeightedLogDensity(double x, int j) => WeightedLogDensity(x, Weights[j], Means[j], Variances[j]);

    static double WeightedLogDensity(double x, double weight, double mean, double variance)
    {
        double d = x - mean;
        return Math.Log(weight) - 0.5 * (Log2Pi + Math.Log(variance) + d * d / variance);
    }

    /// <summary>The component of highest posterior for <paramref name="x"/> (the first on ties).</summary>
    public int Predict(double x)
    {
        int best = 0;
        double bestValue = WeightedLogDensity(x, 0);
        for (int j = 1; j < Components; j++)
        {
            double v = WeightedLogDensity(x, j);
            if (v > bestValue) { best = j; bestValue = v; }
        }
        return best;
    }

    /// <summary>log p(x) under the mixture (scikit-learn's score_samples).</summary>
    public double LogDensity(double x)
    {
        Span<double> terms = stackalloc double[Components];
        for (int j = 0; j < Components; j++) terms[j] = WeightedLogDensity(x, j);
        return LogSumExp(terms);
    }

    static double LogSumExp(ReadOnlySpan<double> terms)
    {
        double max = double.NegativeInfinity;
        foreach (var t in terms) max = Math.Max(max, t);
        if (double.IsNegativeInfinity(max)) return max;
        double sum = 0;
        foreach (var t in terms) sum += Math.Exp(t - max);
        return max + Math.Log(sum);
    }

    /// <summary>Responsibilities into <paramref name="resp"/> [n·k]; returns the mean log-likelihood.</summary>
    static double EStep(IReadOnlyList<double> values, double[] weights, double[] means, double[] variances, double[] resp)
    {
        int n = values.Count, k = means.Length;
        Span<double> terms = stackalloc double[k];
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < k; j++) terms[j] = WeightedLogDensity(values[i], weights[j], means[j], variances[j]);
            double norm = LogSumExp(terms);
            total += norm;
            for (int j = 0; j < k; j++) resp[i * k + j] = Math.Exp(terms[j] - norm);
        }
        return total / n;
    }

    static void MStep(IReadOnlyList<double> values, double[] resp, double[] weights, double[] means, double[] variances, double varianceFloor)
    {
        int n = values.Count, k = means.Length;
        double totalMass = 0;
        for (int j = 0; j < k; j++)
        {
            // 10·ε keeps an empty component's mass (and so the divisions) non-zero, as scikit-learn does.
            double mass = 10 * MachineEpsilon;
            double sum = 0;
            for (int i = 0; i < n; i++) { mass += resp[i * k + j]; sum += resp[i * k + j] * values[i]; }
            double mean = sum / mass;
            double squares = 0;
            for (int i = 0; i < n; i++) { double d = values[i] - mean; squares += resp[i * k + j] * d * d; }
            means[j] = mean;
            variances[j] = squares / mass + varianceFloor;
            weights[j] = mass;
            totalMass += mass;
        }
        for (int j = 0; j < k; j++) weights[j] /= totalMass;
    }
}
