using HpfDet.Assigners;

namespace HpfDet.Tests.Assigners;

public class GaussianMixture1DTests
{
    static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    [Fact]
    public void OneEmStepMatchesTheHandComputedUpdate()
    {
        // Values {0, 1}; means 0 and 1, variances 1, weights ½. E-step: the responsibility of component 0
        // for x = 0 is N(0|0,1) / (N(0|0,1) + N(0|1,1)) = 1 / (1 + e^-½) = σ(½) ≈ 0.6225, for x = 1 it is 1 - σ(½).
        // M-step: n_0 = σ + (1 - σ) = 1, μ_0 = (σ·0 + (1-σ)·1) / 1 = 1 - σ(½) ≈ 0.3775, μ_1 = σ(½) by symmetry;
        // var_0 = σ·(0 - μ_0)² + (1-σ)·(1 - μ_0)² = σ(1-σ)² + (1-σ)σ² = σ(1-σ) ≈ 0.2350, plus the floor 1e-6.
        // The log-likelihood of the E-step (initial parameters), the same for both points:
        // log(½·N(0|0,1) + ½·N(0|1,1)) = -½·log 2π + log(½·(1 + e^-½)).
        var fit = GaussianMixture1D.Fit([0.0, 1.0], [0.5, 0.5], [0.0, 1.0], [1.0, 1.0], new GaussianMixture1DOptions(MaxIterations: 1));
        double s = Sigmoid(0.5);
        Assert.Equal(1 - s, fit.Means[0], 12);
        Assert.Equal(s, fit.Means[1], 12);
        Assert.Equal(s * (1 - s) + 1e-6, fit.Variances[0], 12);
        Assert.Equal(s * (1 - s) + 1e-6, fit.Variances[1], 12);
        Assert.Equal(0.5, fit.Weights[0], 12);
        Assert.Equal(-0.5 * Math.Log(2 * Math.PI) + Math.Log(0.5 * (1 + Math.Exp(-0.5))), fit.MeanLogLikelihood, 12);
        Assert.Equal(1, fit.Iterations);
        Assert.False(fit.Converged);
    }

    [Fact]
    public void TwoWellSeparatedClustersReachTheAnalyticFixedPoint()
    {
        // {0, 1} and {9, 10}, means started at 0 and 10 (PAA's min and max), variances 1. The first E-step
        // gives x = 1 to component 0 with odds e^((81 - 1)/2) = e^40 (responsibility 1 - 4e-18, 1 in double), so the
        // first M-step already lands on the symmetric fixed point: μ = ½·(0 + 1) = 0.5 and 9.5,
        // var = ½·(0.5² + 0.5²) = 0.25 (+ the floor 1e-6), weights ½. The next E-step reproduces it exactly,
        // so the log-likelihood stops changing: iteration 2 computes it under the new parameters, iteration 3
        // computes the same value and stops (the criterion is checked on the E-step's likelihood, as scikit-learn does).
        var fit = GaussianMixture1D.Fit([0.0, 1.0, 9.0, 10.0], [0.5, 0.5], [0.0, 10.0], [1.0, 1.0]);
        Assert.Equal(0.5, fit.Means[0], 1e-6);
        Assert.Equal(9.5, fit.Means[1], 1e-6);
        Assert.Equal(0.25 + 1e-6, fit.Variances[0], 1e-6);
        Assert.Equal(0.25 + 1e-6, fit.Variances[1], 1e-6);
        Assert.Equal(0.5, fit.Weights[0], 1e-9);
        Assert.Equal(0.5, fit.Weights[1], 1e-9);
        Assert.True(fit.Converged);
        Assert.Equal(3, fit.Iterations);
        Assert.Equal([0, 0, 1, 1], new[] { 0.0, 1.0, 9.0, 10.0 }.Select(fit.Predict).ToArray());
        // log p(0.5) = log(½·N(0.5 | 0.5, 0.25)) (the other component adds e^-162): -log 2 - ½·log(2π·0.25).
        Assert.Equal(-Math.Log(2) - 0.5 * Math.Log(2 * Math.PI * (0.25 + 1e-6)), fit.LogDensity(0.5), 9);
    }

    [Fact]
    public void IdenticalValuesGiveFiniteParametersAtTheVarianceFloor()
    {
        // Both means start at the one value; every responsibility is ½, the variance collapses to the floor.
        var fit = GaussianMixture1D.Fit([2.0, 2.0, 2.0], [0.5, 0.5], [2.0, 2.0], [1.0, 1.0]);
        Assert.All(fit.Means, m => Assert.Equal(2.0, m, 12));
        Assert.All(fit.Variances, v => Assert.Equal(1e-6, v, 15));
        Assert.All(fit.Weights, w => Assert.Equal(0.5, w, 12));
        Assert.True(fit.Converged);
        Assert.Equal(0, fit.Predict(2.0));                           // a tie: the first component
        Assert.True(double.IsFinite(fit.LogDensity(2.0)));
        Assert.True(double.IsFinite(fit.LogDensity(3.0)));           // far out: a large negative number, not -∞ or NaN
        Assert.True(double.IsFinite(fit.MeanLogLikelihood));
    }

    [Fact]
    public void ASingleValueIsFittedWithoutNaN()
    {
        var fit = GaussianMixture1D.Fit([0.7], [0.5, 0.5], [0.7, 0.7], [1.0, 1.0]);
        Assert.All(fit.Means.Concat(fit.Variances).Concat(fit.Weights), v => Assert.True(double.IsFinite(v)));
        Assert.Equal(0.7, fit.Means[0], 12);
    }

    [Fact]
    public void BadInputsAreRejectedClearly()
    {
        Assert.Throws<ArgumentException>(() => GaussianMixture1D.Fit([], [0.5, 0.5], [0.0, 1.0], [1.0, 1.0]));
        Assert.Contains("NaN", Assert.Throws<ArgumentException>(() => GaussianMixture1D.Fit([0.0, double.NaN], [0.5, 0.5], [0.0, 1.0], [1.0, 1.0])).Message);
        Assert.Throws<ArgumentException>(() => GaussianMixture1D.Fit([0.0, 1.0], [0.5], [0.0, 1.0], [1.0, 1.0]));
        Assert.Throws<ArgumentException>(() => GaussianMixture1D.Fit([0.0, 1.0], [0.5, 0.5], [0.0, 1.0], [0.0, 1.0]));
    }
}
