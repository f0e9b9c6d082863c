using HpfDet.Losses;
using HpfDet.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Losses;

/// <summary>
/// Finite-difference gradients (float64), hand calculations, extreme and degenerate inputs, and the
/// input errors of every classification loss.
/// </summary>
public class LossPropertyTests
{
    const int C = 3;

    static double Softplus(double x) => Math.Max(x, 0) + Math.Log(1 + Math.Exp(-Math.Abs(x)));
    static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    /// <summary>Two levels of random float64 inputs with positives, background, ignore and weight-0 rows.</summary>
    static List<ClassificationLevelInput> RandomLevels(int seed, double logitScale = 2.0, bool soft = false, long[]? rows = null)
    {
        using var generator = new torch.Generator((ulong)seed);
        var levels = new List<ClassificationLevelInput>();
        foreach (var n in rows ?? [7, 5])
        {
            var x = (torch.randn(n, C, dtype: ScalarType.Float64, generator: generator) * logitScale).requires_grad_(true);
            var labels = torch.randint(0, C + 1, n, dtype: ScalarType.Int64, generator: generator);
            if (n > 2) labels[n - 1] = torch.tensor(-1L);           // an ignored row
            var weights = torch.rand(n, dtype: ScalarType.Float64, generator: generator) + 0.5;
            if (n > 3) weights[n - 2] = torch.tensor(0.0);           // a weight-0 row
            var q = soft ? torch.rand(n, dtype: ScalarType.Float64, generator: generator) * 0.9 + 0.05 : null;
            levels.Add(new ClassificationLevelInput(x, labels, weights, q));
        }
        return levels;
    }

    /// <summary>Central finite differences of the scalar loss w.r.t. every logit, vs autograd.</summary>
    static void CheckGradient(IClassificationLoss loss, List<ClassificationLevelInput> levels, Func<int, long, long, bool>? entriesToCheck = null)
    {
        using var scope = torch.NewDisposeScope();
        foreach (var l in levels) l.Logits.grad?.zero_();
        var y = loss.Forward(levels);
        y.backward();
        const double h = 1e-6;
        for (int li = 0; li < levels.Count; li++)
        {
            var x = levels[li].Logits;
            var analytic = x.grad!.clone();
            for (long i = 0; i < x.shape[0]; i++)
                for (long c = 0; c < x.shape[1]; c++)
                {
                    if (entriesToCheck is not null && !entriesToCheck(li, i, c)) continue;
                    double Eval(double delta)
                    {
                        using var _ = torch.no_grad();
                        x[i, c] = x[i, c] + delta;
                        var v = loss.Forward(levels).item<double>();
                        x[i, c] = x[i, c] - delta;
                        return v;
                    }
                    double numeric = (Eval(h) - Eval(-h)) / (2 * h);
                    Tolerance.AssertClose(numeric, analytic[i, c].item<double>(), 1e-6, 1e-8, $"{loss.Name} d/dx level {li} [{i},{c}]");
                }
        }
    }

    [Fact]
    public void FocalLossGradientMatchesFiniteDifferences() => CheckGradient(new SigmoidFocalLoss(), RandomLevels(1));

    [Fact]
    public void QualityFocalLossGradientMatchesFiniteDifferences() => CheckGradient(new QualityFocalLoss(), RandomLevels(2, soft: true));

    [Fact]
    public void VarifocalLossGradientMatchesFiniteDifferences() => CheckGradient(new VarifocalLoss(), RandomLevels(3, soft: true));

    [Fact]
    public void HpfGradientMatchesFiniteDifferencesWhereGammaIsLocallyConstant()
    {
        // γ_l depends only on the target-class logits of positive rows. Every other entry's finite
        // difference sees constant γ_l, α_l, so it must equal the gradient that treats them as constants.
        var levels = RandomLevels(4);
        var hpf = new HierarchicalProgressiveFocalLoss();
        var labels = levels.Select(l => l.Labels.data<long>().ToArray()).ToArray();
        CheckGradient(hpf, levels, (l, i, c) => labels[l][i] != c);
    }

    [Fact]
    public void HpfGradientMatchesFiniteDifferencesEverywhereWhenGammaIsClamped()
    {
        // Large negative logits: every positive's -log σ(x) is far above γ0+δ, so each γ_l sits on the
        // clamp and is constant around the point; the full finite difference must match everywhere.
        var levels = RandomLevels(5, logitScale: 0.3);
        using (torch.no_grad())
            foreach (var l in levels) l.Logits.sub_(6.0);
        var hpf = new HierarchicalProgressiveFocalLoss();
        hpf.Forward(levels);
        var stats = hpf.LastStatistics!.ToHost();
        Assert.All(stats.Gamma, g => Assert.Equal(2.5, g, 12));
        CheckGradient(hpf, levels);
    }

    [Fact]
    public void HpfGammaAndAlphaByHand()
    {
        // Level 0: positives at class 0 (x = 1.0, w = 1) and class 2 (x = -0.5, w = 0.5); level 1: one
        // positive at class 1 with x = 3 (so its mean is below γ0-δ); level 2: background only.
        using var scope = torch.NewDisposeScope();
        var x0 = torch.tensor(new double[] { 1.0, 0.2, -0.3, 0.0, 0.4, -0.5, 0.1, 0.1, 0.1 }).reshape(3, 3);
        var l0 = torch.tensor(new long[] { 0, 2, 3 });
        var w0 = torch.tensor(new double[] { 1.0, 0.5, 1.0 });
        var x1 = torch.tensor(new double[] { -1.0, 3.0, 0.5 }).reshape(1, 3);
        var l1 = torch.tensor(new long[] { 1 });
        var x2 = torch.tensor(new double[] { 0.3, -0.2, 0.0 }).reshape(1, 3);
        var l2 = torch.tensor(new long[] { 3 });
        var levels = new List<ClassificationLevelInput> { new(x0, l0, w0), new(x1, l1), new(x2, l2) };

        double v00 = 1.0 * Softplus(-1.0), v01 = 0.5 * Softplus(0.5);
        double g0 = Math.Clamp((v00 + v01) / 2, 1.5, 2.5);          // (0.3133 + 0.4870) / 2 = 0.400 -> 1.5
        double g1 = Math.Clamp(Softplus(-3.0), 1.5, 2.5);           // 0.0486 -> 1.5
        double g2 = 2.0;                                            // no positive
        var hpf = new HierarchicalProgressiveFocalLoss();
        hpf.Forward(levels);
        var s = hpf.LastStatistics!.ToHost();
        Tolerance.AssertAllClose([g0, g1, g2], s.Gamma, 1e-12, 0, "gamma");
        Tolerance.AssertAllClose([0.5 / g0, 0.5 / g1, 0.5 / g2], s.Alpha, 1e-12, 0, "alpha");
        Assert.Equal([2L, 1L, 0L], s.Positives);
        Assert.True(double.IsNaN(s.MeanNegLogP[2]));

        // AllLevels: one mean over the three positives of all levels, then the clamp.
        var all = new HierarchicalProgressiveFocalLoss(new HierarchicalProgressiveFocalLossOptions(Delta: 1.9, Scope: ProgressiveFocusScope.AllLevels));
        all.Forward(levels);
        double gAll = Math.Clamp((v00 + v01 + Softplus(-3.0)) / 3, 0.1, 3.9);   // 0.283, inside the range
        Tolerance.AssertAllClose([gAll, gAll, gAll], all.LastStatistics!.ToHost().Gamma, 1e-12, 0, "gamma AllLevels");

        // The loss itself, element by element from the focal formula with each level's γ, α.
        double Fl(double xv, bool target, double g, double a)
        {
            double p = Sigmoid(xv);
            return target ? -a * Math.Pow(1 - p, g) * Math.Log(p) : -(1 - a) * Math.Pow(p, g) * Math.Log(1 - p);
        }
        double total = 0;
        double[][] xs = [[1.0, 0.2, -0.3, 0.0, 0.4, -0.5, 0.1, 0.1, 0.1], [-1.0, 3.0, 0.5], [0.3, -0.2, 0.0]];
        long[][] ls = [[0, 2, 3], [1], [3]];
        double[][] ws = [[1.0, 0.5, 1.0], [1.0], [1.0]];
        double[] gs = [g0, g1, g2];
        for (int l = 0; l < 3; l++)
            for (int i = 0; i < ls[l].Length; i++)
                for (int c = 0; c < 3; c++)
                    total += ws[l][i] * Fl(xs[l][i * 3 + c], ls[l][i] == c, gs[l], 0.5 / gs[l]);
        total /= 3; // three positives over all levels
        Tolerance.AssertClose(total, hpf.Forward(levels).item<double>(), 1e-12, 0, "HPF loss by hand");
    }

    [Fact]
    public void QualityAndVarifocalLossByHand()
    {
        using var scope = torch.NewDisposeScope();
        // One positive row (class 0, IoU 0.6) and one background row, C = 2, normaliser = 1 positive.
        var x = torch.tensor(new double[] { 0.5, -1.0, 2.0, -0.25 }).reshape(2, 2);
        var labels = torch.tensor(new long[] { 0, 2 });
        var q = torch.tensor(new double[] { 0.6, 0.0 });
        var level = new ClassificationLevelInput(x, labels, null, q);
        double Bce(double xv, double t) => Softplus(xv) - xv * t;

        double qfl = Bce(0.5, 0.6) * Math.Pow(Math.Abs(0.6 - Sigmoid(0.5)), 2)
                     + Bce(-1.0, 0) * Math.Pow(Sigmoid(-1.0), 2)
                     + Bce(2.0, 0) * Math.Pow(Sigmoid(2.0), 2)
                     + Bce(-0.25, 0) * Math.Pow(Sigmoid(-0.25), 2);
        Tolerance.AssertClose(qfl, new QualityFocalLoss().Forward([level]).item<double>(), 1e-12, 0, "QFL by hand");

        double vfl = Bce(0.5, 0.6) * 0.6
                     + Bce(-1.0, 0) * 0.75 * Math.Pow(Sigmoid(-1.0), 2)
                     + Bce(2.0, 0) * 0.75 * Math.Pow(Sigmoid(2.0), 2)
                     + Bce(-0.25, 0) * 0.75 * Math.Pow(Sigmoid(-0.25), 2);
        Tolerance.AssertClose(vfl, new VarifocalLoss().Forward([level]).item<double>(), 1e-12, 0, "VFL by hand");
    }

    public static TheoryData<string> AllLosses => ["fl", "hpf", "qfl", "vfl"];

    static IClassificationLoss Make(string name) => name switch
    {
        "fl" => new SigmoidFocalLoss(),
        "hpf" => new HierarchicalProgressiveFocalLoss(),
        "qfl" => new QualityFocalLoss(),
        "vfl" => new VarifocalLoss(),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(AllLosses))]
    public void ExtremeLogitsGiveFiniteLossAndGradients(string name)
    {
        using var scope = torch.NewDisposeScope();
        // ±100 and ±17, ±40 in float32, as targets and as non-targets.
        var x = torch.tensor(new float[] { 100, -100, 40, -100, 100, -40, 17, -17, 0, -17, 17, 0 }).reshape(4, 3).requires_grad_(true);
        var labels = torch.tensor(new long[] { 0, 1, 2, 3 });
        var q = torch.tensor(new float[] { 0.9f, 0.5f, 0.7f, 0f });
        var loss = Make(name).Forward([new ClassificationLevelInput(x, labels, null, q)]);
        Assert.True(float.IsFinite(loss.item<float>()), $"{name} loss is {loss.item<float>()}");
        loss.backward();
        Assert.True(torch.isfinite(x.grad!).all().item<bool>(), $"{name} gradient has NaN/Inf: {string.Join(", ", x.grad!.data<float>().ToArray())}");
        // A confidently wrong target (x = -100 at the target class 1 of row 1) must dominate the loss.
        Assert.True(loss.item<float>() > 10f);
    }

    [Theory]
    [MemberData(nameof(AllLosses))]
    public void EmptyLevelsAreAllowedAndAllEmptyGivesZero(string name)
    {
        using var scope = torch.NewDisposeScope();
        var levels = RandomLevels(6, soft: true, rows: [0, 6, 0]);
        var loss = Make(name);
        var withEmpty = loss.Forward(levels).item<double>();
        var without = loss.Forward([levels[1]]).item<double>();
        Assert.Equal(without, withEmpty, 12);
        var empty = RandomLevels(7, soft: true, rows: [0, 0]);
        var zero = loss.Forward(empty);
        Assert.Equal(0.0, zero.item<double>());
        zero.backward();
    }

    [Fact]
    public void HpfWithoutPositivesIsFocalLossWithGamma0AndAlphaWOverGamma0()
    {
        using var scope = torch.NewDisposeScope();
        var levels = RandomLevels(8);
        var background = levels.Select(l => new ClassificationLevelInput(l.Logits, torch.full_like(l.Labels, C), l.LabelWeights)).ToList();
        var hpf = new HierarchicalProgressiveFocalLoss().Forward(background).item<double>();
        var fl = new SigmoidFocalLoss(new SigmoidFocalLossOptions(2.0, 0.25)).Forward(background).item<double>();
        Assert.True(hpf > 0);
        Assert.Equal(fl, hpf, 12);
    }

    [Theory]
    [MemberData(nameof(AllLosses))]
    public void MismatchedShapesNameBothShapes(string name)
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.zeros(4, 3);
        var loss = Make(name);
        var e1 = Assert.Throws<ArgumentException>(() => loss.Forward([new ClassificationLevelInput(x, torch.zeros(5, dtype: ScalarType.Int64), null, torch.zeros(4))]));
        Assert.Contains("[5]", e1.Message);
        Assert.Contains("[4, 3]", e1.Message);
        var e2 = Assert.Throws<ArgumentException>(() => loss.Forward([new ClassificationLevelInput(x, torch.zeros(4, dtype: ScalarType.Int64), torch.ones(3), torch.zeros(4))]));
        Assert.Contains("[3]", e2.Message);
        Assert.Contains("[4, 3]", e2.Message);
        var e3 = Assert.Throws<ArgumentException>(() => loss.Forward([
            new ClassificationLevelInput(x, torch.zeros(4, dtype: ScalarType.Int64), null, torch.zeros(4)),
            new ClassificationLevelInput(torch.zeros(2, 5), torch.zeros(2, dtype: ScalarType.Int64), null, torch.zeros(2))]));
        Assert.Contains("[2, 5]", e3.Message);
    }

    [Theory]
    [MemberData(nameof(AllLosses))]
    public void NanOrInfLogitsRaiseAClearError(string name)
    {
        using var scope = torch.NewDisposeScope();
        foreach (var bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
        {
            var x = torch.zeros(4, 3);
            x[2, 1] = torch.tensor(bad);
            // Its own type (an ArgumentException) lets a training loop treat it as divergence.
            var e = Assert.Throws<NonFiniteInputException>(() => Make(name).Forward([new ClassificationLevelInput(x, torch.zeros(4, dtype: ScalarType.Int64), null, torch.zeros(4))]));
            Assert.Contains("NaN or Inf", e.Message);
            Assert.Contains("level 0", e.Message);
        }
    }

    [Fact]
    public void SoftTargetLossesRequireSoftTargets()
    {
        using var scope = torch.NewDisposeScope();
        var level = new ClassificationLevelInput(torch.zeros(2, 3), torch.zeros(2, dtype: ScalarType.Int64));
        Assert.Contains("soft targets", Assert.Throws<ArgumentException>(() => new QualityFocalLoss().Forward([level])).Message);
        Assert.Contains("soft targets", Assert.Throws<ArgumentException>(() => new VarifocalLoss().Forward([level])).Message);
    }

    [Fact]
    public void StatisticsDoNotAccumulateAcrossCalls()
    {
        // The loss keeps only the last call's statistics: a long loop must not grow live tensors.
        var levels = RandomLevels(9);
        using var hpf = new HierarchicalProgressiveFocalLoss();
        for (int i = 0; i < 5; i++) { using var s = torch.NewDisposeScope(); hpf.Forward(levels); }
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 50; i++) { using var s = torch.NewDisposeScope(); hpf.Forward(levels); }
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }
}
