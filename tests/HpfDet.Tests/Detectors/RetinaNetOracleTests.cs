using HpfDet.Losses;
using HpfDet.Models;
using HpfDet.Models.Backbones;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace HpfDet.Tests.Detectors;

/// <summary>
/// RetinaNet against torchvision 0.14.1 (oracle detectors/retinanet_*.json): with the case's FPN
/// features and head weights, the head outputs, the training losses and the detections.
/// </summary>
public class RetinaNetOracleTests(ITestOutputHelper output)
{
    public static TheoryData<string> Cases => DetectorOracleCase.Of("retinanet");

    /// <summary>torchvision's loss names → ours.</summary>
    static readonly Dictionary<string, string> LossNames = new() { ["classification"] = "classification", ["bbox_regression"] = "box" };

    /// <summary>A RetinaNet whose head has the case's channels and weights (the backbone and FPN are not used).</summary>
    public static RetinaNetDetector Build(DetectorOracleCase c, ScalarType dtype, IClassificationLoss? loss = null)
    {
        var state = c.HeadState(dtype);
        int convs = state.Keys.Count(k => k.StartsWith("classification_head.conv.") && k.EndsWith(".0.weight"));
        var backbone = new ResNetOptions(ResNetDepth.R18, BlocksPerStage: [1, 1, 1, 1]);
        var model = new RetinaNetDetector(new RetinaNetDetectorOptions(c.NumClasses, backbone, FpnChannels: c.Channels, HeadConvs: convs), loss);
        model.to(dtype);
        var missing = model.LoadHeadState(state);
        Assert.Empty(missing);
        Assert.Equal(state.Count, model.Head.named_parameters().Count());
        model.eval();
        return model;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesTorchvisionInFloat64(string file) => Check(file, ScalarType.Float64, outputTolerance: 1e-7, lossTolerance: 1e-9);

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesTorchvisionInFloat32(string file) => Check(file, ScalarType.Float32, outputTolerance: 1e-4, lossTolerance: 1e-4);

    void Check(string file, ScalarType dtype, double outputTolerance, double lossTolerance)
    {
        using var scope = torch.NewDisposeScope();
        var c = DetectorOracleCase.Load(file);
        var model = Build(c, dtype);
        var sizes = Enumerable.Repeat(c.ImageSize, c.BatchSize).ToArray();
        var features = c.Features(dtype);

        DenseHeadOutputs outputs;
        using (torch.no_grad()) outputs = model.Head.call(features);
        double headError = Math.Max(
            MaxAbs(DenseHeadOutputs.Flatten(outputs.ClassLogits, c.NumClasses), c.ExpectedHead("cls_logits")!),
            MaxAbs(DenseHeadOutputs.Flatten(outputs.BoxRegression, 4), c.ExpectedHead("bbox_regression")!));
        output.WriteLine($"{c.Name} {dtype}: head max abs error {headError:E2}");
        Assert.True(headError <= outputTolerance, $"head outputs differ by {headError:E2}");

        var losses = model.ComputeLosses(outputs, c.Targets(dtype), sizes);
        Assert.Equal(LossNames.Values, losses.Names);
        foreach (var (name, expected) in c.ExpectedLosses)
        {
            double actual = losses[LossNames[name]].to(ScalarType.Float64).item<double>();
            double rel = Math.Abs(actual - expected) / Math.Max(Math.Abs(expected), 1e-300);
            output.WriteLine($"{c.Name} {dtype}: loss {name} {actual:R} vs {expected:R}, relative error {rel:E2}");
            Assert.True(expected == 0 ? Math.Abs(actual) <= lossTolerance : rel <= lossTolerance, $"loss {name}: {actual:R} vs {expected:R} (relative {rel:E2})");
        }

        var detections = model.Predict(outputs, sizes);
        var (boxError, scoreError) = c.DetectionErrors(detections);
        double boxCompared = c.ComparableBoxError(boxError, dtype);
        output.WriteLine($"{c.Name} {dtype}: {c.ExpectedDetections.Sum(e => e.Scores.Length)} detections, box max abs error {boxError:E2} " +
            $"(compared: {boxCompared:E2}), score {scoreError:E2}");
        Assert.True(boxCompared <= outputTolerance, $"boxes differ by {boxError:E2} (compared: {boxCompared:E2})");
        Assert.True(scoreError <= outputTolerance, $"scores differ by {scoreError:E2}");
    }

    static double MaxAbs(Tensor actual, Tensor expected)
    {
        Assert.Equal(expected.shape, actual.shape);
        return actual.to(ScalarType.Float64).sub(expected).abs().max().item<double>();
    }
}
