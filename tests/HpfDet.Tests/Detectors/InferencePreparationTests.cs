using HpfDet.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Detectors;

/// <summary>
/// A detector prepared for inference (channels-last weights, optionally bfloat16) against the same detector
/// unprepared, which is the reference: the same head outputs in float32 (to rounding), bfloat16 within its
/// precision, and training refused afterwards.
/// </summary>
public class InferencePreparationTests
{
    static (DenseHeadOutputs Reference, DenseHeadOutputs Prepared, Tensor Images) Outputs(InferencePrecision precision, string family)
    {
        var reference = Build(family);
        var prepared = Build(family);
        // The fixtures seed torch's global generator, which parallel tests share: copy the weights instead.
        using (torch.no_grad())
        {
            foreach (var ((_, a), (_, b)) in reference.named_parameters().Zip(prepared.named_parameters())) b.copy_(a);
            foreach (var ((_, a), (_, b)) in reference.named_buffers().Zip(prepared.named_buffers())) b.copy_(a);
        }
        var images = torch.randn(2, 3, 96, 128, generator: new Generator(7));
        reference.eval();
        prepared.PrepareForInference(precision);
        using var _ = torch.no_grad();
        return (reference.forward(images), prepared.forward(images), images);
    }

    static DenseDetector Build(string family) => family switch
    {
        "atss" => DetectorFixtures.TinyAtss(3, seed: 11),
        "fcos" => DetectorFixtures.TinyFcos(3, seed: 11),
        "yolof" => YolofFixtures.TinyYolof(3, seed: 11),
        _ => throw new ArgumentException(family),
    };

    [Theory]
    [InlineData("atss")]
    [InlineData("fcos")]
    [InlineData("yolof")]
    public void Float32PreparationKeepsTheHeadOutputs(string family)
    {
        using var scope = torch.NewDisposeScope();
        var (reference, prepared, _) = Outputs(InferencePrecision.Float32, family);
        for (int l = 0; l < reference.NumLevels; l++)
        {
            Assert.Equal(ScalarType.Float32, prepared.ClassLogits[l].dtype);
            Assert.True(prepared.ClassLogits[l].allclose(reference.ClassLogits[l], rtol: 1e-4, atol: 1e-4), $"level {l} class logits differ by {(prepared.ClassLogits[l] - reference.ClassLogits[l]).abs().max().item<float>()} (range {reference.ClassLogits[l].abs().max().item<float>()})");
            Assert.True(prepared.BoxRegression[l].allclose(reference.BoxRegression[l], rtol: 1e-4, atol: 1e-4), $"level {l} box regression differs");
        }
    }

    [Theory]
    [InlineData("atss")]
    [InlineData("yolof")]
    public void BFloat16OutputsStayWithinItsPrecision(string family)
    {
        using var scope = torch.NewDisposeScope();
        var (reference, prepared, _) = Outputs(InferencePrecision.BFloat16, family);
        for (int l = 0; l < reference.NumLevels; l++)
        {
            Assert.Equal(ScalarType.Float32, prepared.ClassLogits[l].dtype);
            // bfloat16 keeps 8 significant bits (relative 2^-8 ≈ 0.004 per rounding); through a few dozen
            // layers the outputs drift by a few percent of their range, not more.
            double range = reference.ClassLogits[l].abs().max().item<float>();
            double diff = (prepared.ClassLogits[l] - reference.ClassLogits[l]).abs().max().item<float>();
            Assert.True(diff <= 0.05 * range + 1e-3, $"level {l}: class logits differ by {diff} (range {range})");
            double boxRange = reference.BoxRegression[l].abs().max().item<float>();
            double boxDiff = (prepared.BoxRegression[l] - reference.BoxRegression[l]).abs().max().item<float>();
            Assert.True(boxDiff <= 0.05 * boxRange + 1e-3, $"level {l}: box regression differs by {boxDiff} (range {boxRange})");
        }
    }

    [Fact]
    public void APreparedDetectorRefusesToTrainAndToBePreparedTwice()
    {
        using var scope = torch.NewDisposeScope();
        var model = DetectorFixtures.TinyAtss(3, seed: 11);
        model.PrepareForInference();
        var target = new DetectionTarget(torch.tensor(new float[] { 10, 10, 50, 50 }).reshape(1, 4), torch.tensor(new long[] { 1 }));
        var e = Assert.Throws<InvalidOperationException>(() => model.ComputeLosses(torch.zeros(1, 3, 64, 64), [target]));
        Assert.Contains("prepared for inference", e.Message);
        Assert.Throws<InvalidOperationException>(() => model.PrepareForInference());
    }
}
