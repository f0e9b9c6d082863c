using System.Text.Json;
using HpfDet.Losses;
using HpfDet.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Losses;

/// <summary>
/// Every loss case of the oracle folder (float64 PyTorch reference, checked against 50-digit
/// arithmetic), in float64 (rel 1e-12) and float32 (rel 1e-5 on sums, abs 1e-6 on elements).
/// </summary>
public class LossOracleTests
{
    public static TheoryData<string> FocalCases => LossOracleCases.OfKind("sigmoid_focal_loss");
    public static TheoryData<string> HpfCases => LossOracleCases.OfKind("progressive_focal_loss");

    // Element tolerances per dtype: (rel, abs). Sums: float32 rel 1e-5.
    static (double Rel, double Abs) ElementTol(ScalarType dtype) => dtype == ScalarType.Float64 ? (1e-12, 1e-15) : (1e-5, 1e-6);
    static (double Rel, double Abs) SumTol(ScalarType dtype) => dtype == ScalarType.Float64 ? (1e-12, 1e-15) : (1e-5, 1e-6);

    /// <summary>[rows][classes] JSON as a tensor; an empty level keeps the case's class count.</summary>
    static Tensor Matrix(JsonElement rows, long numClasses, ScalarType dtype)
    {
        var flat = LossOracleCases.Flat(rows);
        return torch.tensor(flat, dtype: ScalarType.Float64).reshape(rows.GetArrayLength(), numClasses).to(dtype);
    }

    [Fact]
    public void OracleFolderHasCasesOfBothKinds()
    {
        Assert.NotEmpty(FocalCases);
        Assert.NotEmpty(HpfCases);
    }

    [Theory]
    [MemberData(nameof(FocalCases))]
    public void FocalLossMatchesOracle_Float64(string file) => CheckFocal(file, ScalarType.Float64);

    [Theory]
    [MemberData(nameof(FocalCases))]
    public void FocalLossMatchesOracle_Float32(string file) => CheckFocal(file, ScalarType.Float32);

    static void CheckFocal(string file, ScalarType dtype)
    {
        using var doc = LossOracleCases.Load(file);
        using var scope = torch.NewDisposeScope();
        var root = doc.RootElement;
        double gamma = root.GetProperty("gamma").GetDouble();
        double alpha = root.GetProperty("alpha").GetDouble();
        var inputs = root.GetProperty("inputs");
        var expected = root.GetProperty("expected");
        long numClasses = root.GetProperty("num_classes").GetInt64();
        var logits = Matrix(inputs.GetProperty("logits"), numClasses, dtype).requires_grad_(true);
        var labels = torch.tensor(LossOracleCases.FlatLong(inputs.GetProperty("labels")));
        Tensor? weights = LossOracleCases.TryGet(inputs, "label_weights", out var w) ? torch.tensor(LossOracleCases.Flat(w)).to(dtype) : null;
        var (er, ea) = ElementTol(dtype);
        var (sr, sa) = SumTol(dtype);

        // Elementwise, from the explicit one-hot targets.
        var onehot = Matrix(inputs.GetProperty("targets_one_hot"), numClasses, dtype);
        var elements = SigmoidFocalLoss.Elementwise(logits.detach(), onehot, gamma, alpha);
        Tolerance.AssertAllClose(LossOracleCases.Flat(expected.GetProperty("loss_per_element")), ToDoubles(elements), er, ea, $"{file} loss_per_element ({dtype})");

        // Through the per-level interface, from the labels: sum (normaliser 1) and gradient of the sum.
        using var loss = new SigmoidFocalLoss(new SigmoidFocalLossOptions(gamma, alpha));
        var level = new ClassificationLevelInput(logits, labels, weights);
        var sum = loss.Forward([level], torch.tensor(1.0, dtype: dtype));
        Tolerance.AssertClose(expected.GetProperty("loss_sum").GetDouble(), sum.to(ScalarType.Float64).item<double>(), sr, sa, $"{file} loss_sum ({dtype})");
        sum.backward();
        Tolerance.AssertAllClose(LossOracleCases.Flat(expected.GetProperty("grad_of_sum_wrt_logits")), ToDoubles(logits.grad!), er, ea, $"{file} grad_of_sum_wrt_logits ({dtype})");
        Assert.Equal(expected.GetProperty("num_pos").GetInt64(), loss.LastStatistics!.ToHost().Positives.Sum());

        // Default normaliser: the number of positives.
        var normalised = loss.Forward([new ClassificationLevelInput(logits.detach(), labels, weights)]);
        Tolerance.AssertClose(expected.GetProperty("loss_sum_div_num_pos").GetDouble(), normalised.to(ScalarType.Float64).item<double>(), sr, sa, $"{file} loss_sum_div_num_pos ({dtype})");
    }

    [Theory]
    [MemberData(nameof(HpfCases))]
    public void HpfMatchesOracle_Float64(string file) => CheckHpf(file, ScalarType.Float64);

    [Theory]
    [MemberData(nameof(HpfCases))]
    public void HpfMatchesOracle_Float32(string file) => CheckHpf(file, ScalarType.Float32);

    static void CheckHpf(string file, ScalarType dtype)
    {
        using var doc = LossOracleCases.Load(file);
        using var scope = torch.NewDisposeScope();
        var root = doc.RootElement;
        var p = root.GetProperty("params");
        var options = new HierarchicalProgressiveFocalLossOptions(
            Gamma0: p.GetProperty("gamma").GetDouble(),
            Delta: p.GetProperty("delta").GetDouble(),
            W: p.GetProperty("w").GetDouble(),
            Scope: p.TryGetProperty("scope", out var sc) && sc.GetString() is { } s && s.Replace("_", "").Equals("alllevels", StringComparison.OrdinalIgnoreCase)
                ? ProgressiveFocusScope.AllLevels : ProgressiveFocusScope.PerLevel);
        var expected = root.GetProperty("expected");
        long numClasses = root.GetProperty("num_classes").GetInt64();
        var levels = new List<ClassificationLevelInput>();
        var logits = new List<Tensor>();
        foreach (var level in root.GetProperty("levels").EnumerateArray())
        {
            var inputs = level.GetProperty("inputs");
            var x = Matrix(inputs.GetProperty("logits"), numClasses, dtype).requires_grad_(true);
            logits.Add(x);
            Tensor? weights = LossOracleCases.TryGet(inputs, "label_weights", out var w) ? torch.tensor(LossOracleCases.Flat(w)).to(dtype) : null;
            levels.Add(new ClassificationLevelInput(x, torch.tensor(LossOracleCases.FlatLong(inputs.GetProperty("labels"))), weights));
        }
        var (er, ea) = ElementTol(dtype);
        var (sr, sa) = SumTol(dtype);

        using var loss = new HierarchicalProgressiveFocalLoss(options);
        var total = loss.Forward(levels);
        Tolerance.AssertClose(expected.GetProperty("loss").GetDouble(), total.to(ScalarType.Float64).item<double>(), sr, sa, $"{file} loss ({dtype})");

        var stats = loss.LastStatistics!.ToHost();
        // γ and α are means/quotients of float32-rounded values in the float32 run: sum tolerance.
        Tolerance.AssertAllClose(LossOracleCases.Flat(expected.GetProperty("gamma_per_level")), stats.Gamma, sr, sa, $"{file} gamma_per_level ({dtype})");
        Tolerance.AssertAllClose(LossOracleCases.Flat(expected.GetProperty("alpha_per_level")), stats.Alpha, sr, sa, $"{file} alpha_per_level ({dtype})");
        Tolerance.AssertAllClose(LossOracleCases.Flat(expected.GetProperty("loss_per_level")), stats.LevelLoss, sr, sa, $"{file} loss_per_level ({dtype})");
        Assert.Equal(expected.GetProperty("total_pos").GetInt64(), stats.Positives.Sum());
        var levelMeta = root.GetProperty("levels").EnumerateArray().ToArray();
        for (int l = 0; l < levelMeta.Length; l++)
            if (levelMeta[l].TryGetProperty("num_pos", out var np))
                Assert.Equal(np.GetInt64(), stats.Positives[l]);

        total.backward();
        var grads = expected.GetProperty("grad_of_loss_wrt_logits_per_level").EnumerateArray().ToArray();
        Assert.Equal(logits.Count, grads.Length);
        for (int l = 0; l < logits.Count; l++)
            Tolerance.AssertAllClose(LossOracleCases.Flat(grads[l]), ToDoubles(logits[l].grad!), er, ea, $"{file} grad level {l} ({dtype})");
    }

    static double[] ToDoubles(Tensor t) => t.detach().to(ScalarType.Float64).cpu().contiguous().data<double>().ToArray();
}
