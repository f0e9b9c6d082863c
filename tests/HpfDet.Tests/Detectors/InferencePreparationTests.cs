using HpfDet.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Detectors;

/// <summary>
/// A detector prepared for inference (bfloat16, or float32; optionally channels-last) against the same detector
/// unprepared, which is the reference: the same head outputs in float32 (to rounding), bfloat16 within its
/// precision, and training refused afterwards.
/// </summary>
public class InferencePreparationTests
{
    static (DenseHeadOutputs Reference, DenseHeadOutputs Prepared) Outputs(ComputePrecision precision, string family, bool? channelsLast = null)
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
        prepared.PrepareForInference(precision, channelsLast);
        using var _ = torch.no_grad();
        return (reference.forward(images), prepared.forward(images));
    }

    static DenseDetector Build(string family) => family switch
    {
        "atss" => DetectorFixtures.TinyAtss(3, seed: 11),
        "fcos" => DetectorFixtures.TinyFcos(3, seed: 11),
        "yolof" => YolofFixtures.TinyYolof(3, seed: 11),
        _ => throw new ArgumentException(family),
    };

    [Theory]
    [InlineData("atss", false)]
    [InlineData("fcos", false)]
    [InlineData("yolof", false)]
    [InlineData("atss", true)]
    [InlineData("yolof", true)]
    public void Float32PreparationKeepsTheHeadOutputs(string family, bool channelsLast)
    {
        using var scope = torch.NewDisposeScope();
        var (reference, prepared) = Outputs(ComputePrecision.Float32, family, channelsLast);
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
        var (reference, prepared) = Outputs(ComputePrecision.BFloat16, family);
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
    public void AModelPreparedInsideADisposeScopeStillRunsAfterTheScopeEnds()
    {
        // The folded BatchNorm weights belong to the model: a scope around PrepareForInference must not take them.
        using var model = DetectorFixtures.TinyAtss(3, seed: 11);
        using (torch.NewDisposeScope()) model.PrepareForInference();
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var outputs = model.forward(torch.randn(1, 3, 64, 64, generator: new Generator(3)));
        Assert.True(outputs.ClassLogits[0].isfinite().all().item<bool>());
    }

    [Fact]
    public void BFloat16IsRefusedForResNet50BackbonesWhereLibtorchCrashesInChannelsLast()
    {
        using var scope = torch.NewDisposeScope();
        var backbone = new HpfDet.Models.Backbones.ResNet(new HpfDet.Models.Backbones.ResNetOptions(HpfDet.Models.Backbones.ResNetDepth.R50, BlocksPerStage: [1, 1, 1, 1]));
        var model = DetectorRegistry.Build("atss-r50", new DetectorBuildOptions(3, backbone, new HpfDet.Losses.SigmoidFocalLoss(), FpnChannels: 32, HeadChannels: 32, HeadConvs: 1));
        var e = Assert.Throws<HpfDetException>(() => model.PrepareForInference(ComputePrecision.BFloat16));
        Assert.Contains("ResNet-50", e.Message);
        Assert.Contains("--precision fp32", e.Message);
        model.PrepareForInference(ComputePrecision.Float32);   // contiguous float32 is fine
        Assert.Equal(ComputePrecision.Float32, model.PreparedPrecision);
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
