using HpfDet.Models;
using HpfDet.Models.Backbones;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace HpfDet.Tests.Detectors;

/// <summary>
/// FCOS against torchvision 0.14.1 (oracle detectors/fcos_*.json): the head on fixed FPN features with
/// fixed weights, the training losses and the detections, in float64 and float32.
/// </summary>
public class FcosOracleTests(ITestOutputHelper output)
{
    public static TheoryData<string> Cases => DetectorOracleCase.Of("fcos");

    /// <summary>torchvision's loss names → the detector's term names.</summary>
    static readonly (string Reference, string Ours)[] LossNames = [("classification", "classification"), ("bbox_regression", "box"), ("bbox_ctrness", "centerness")];

    static FcosDetector Build(DetectorOracleCase c, ScalarType dtype)
    {
        var backbone = new ResNet(new ResNetOptions(ResNetDepth.R18, BlocksPerStage: [1, 1, 1, 1]));
        var model = new FcosDetector(new FcosDetectorOptions(c.NumClasses, backbone.Options, FpnChannels: c.Channels), backbone: backbone);
        model.to(dtype);
        var missing = model.LoadHeadState(c.HeadState(dtype));
        Assert.Empty(missing);
        model.eval();
        return model;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Float64MatchesTorchvision(string file) => Check(file, float64, outputTol: 1e-7, lossRelTol: 1e-9, boxTol: 1e-7);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Float32MatchesTorchvision(string file) => Check(file, float32, outputTol: 1e-4, lossRelTol: 1e-4, boxTol: 1e-4);

    void Check(string file, ScalarType dtype, double outputTol, double lossRelTol, double boxTol)
    {
        using var scope = torch.NewDisposeScope();
        var c = DetectorOracleCase.Load(file);
        var model = Build(c, dtype);
        var outputs = model.Head.call(c.Features(dtype));

        foreach (var (name, ours) in new[] { ("cls_logits", outputs.ClassLogits), ("bbox_regression", outputs.BoxRegression), ("bbox_ctrness", outputs["centerness"]) })
        {
            var expected = c.ExpectedHead(name)!;
            var actual = DenseHeadOutputs.Flatten(ours, (int)expected.shape[2]).to(float64);
            Assert.Equal(expected.shape, actual.shape);
            double err = actual.sub(expected).abs().max().item<double>();
            output.WriteLine($"{file} {dtype} head {name}: max abs error {err:E2}");
            Assert.True(err <= outputTol, $"{name}: max abs error {err:E2} > {outputTol:E0}");
        }

        var sizes = Enumerable.Repeat(c.ImageSize, c.BatchSize).ToArray();
        var losses = model.ComputeLosses(outputs, c.Targets(dtype), sizes);
        Assert.Equal(LossNames.Select(n => n.Ours), losses.Names);
        foreach (var (reference, ours) in LossNames)
        {
            double expected = c.ExpectedLosses[reference], actual = losses[ours].to(float64).item<double>();
            double rel = Math.Abs(actual - expected) / Math.Max(Math.Abs(expected), 1e-300);
            output.WriteLine($"{file} {dtype} loss {ours}: {actual:R} vs {expected:R}, relative error {rel:E2}");
            Assert.True(expected == 0 ? Math.Abs(actual) <= lossRelTol : rel <= lossRelTol, $"{ours}: {actual:R} vs torchvision {expected:R} (relative {rel:E2})");
        }

        var detections = model.Predict(outputs, sizes);
        var (boxErr, scoreErr) = c.DetectionErrors(detections);
        double boxCompared = c.ComparableBoxError(boxErr, dtype);
        output.WriteLine($"{file} {dtype} detections: max abs error boxes {boxErr:E2} (compared: {boxCompared:E2}), scores {scoreErr:E2}");
        Assert.True(boxCompared <= boxTol, $"detection boxes: max abs error {boxErr:E2} (compared: {boxCompared:E2}) > {boxTol:E0}");
        Assert.True(scoreErr <= outputTol, $"detection scores: max abs error {scoreErr:E2} > {outputTol:E0}");
    }
}
