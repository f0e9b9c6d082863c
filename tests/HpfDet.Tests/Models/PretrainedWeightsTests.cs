using HpfDet.Models;
using HpfDet.Models.Backbones;
using HpfDet.Tests.Infrastructure;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Xunit.Abstractions;
using SkiaSharp;
using TorchSharp;
using static HpfDet.Tests.Infrastructure.TensorAssert;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace HpfDet.Tests.Models;

public class PretrainedWeightsTests(ITestOutputHelper output)
{
    const int Side = 224;

    /// <summary>A BCCD JPEG resized to 224x224, as RGB 0–255 [1, 3, 224, 224].</summary>
    static float[] LoadRgb224(string path)
    {
        using var decoded = SKBitmap.Decode(path) ?? throw new InvalidOperationException($"cannot decode {path}");
        using var resized = decoded.Resize(new SKImageInfo(Side, Side, SKColorType.Rgba8888, SKAlphaType.Premul),
            new SKSamplingOptions(SKFilterMode.Linear)) ?? throw new InvalidOperationException("resize failed");
        var pixels = resized.Pixels;
        var chw = new float[3 * Side * Side];
        for (int i = 0; i < Side * Side; i++)
        {
            chw[i] = pixels[i].Red;
            chw[Side * Side + i] = pixels[i].Green;
            chw[2 * Side * Side + i] = pixels[i].Blue;
        }
        return chw;
    }

    [Fact]
    public void ImageNetOnnxFeatureMatchesOnnxRuntime()
    {
        var onnxPath = PretrainedWeights.FindResNet18Onnx();
        using var model = new ResNet(new ResNetOptions(ResNetDepth.R18, BlocksPerStage: PretrainedWeights.ImageNetOnnxBlocksPerStage));
        var report = PretrainedWeights.LoadResNet18Onnx(model, onnxPath);
        // 22 convolutions (stem; 9 blocks x 2; 3 downsamples), each with a BN of 4 tensors: 22 + 88 = 110.
        Assert.Equal(110, report.TensorsLoaded);
        Assert.Equal(132, report.ModelTensors); // + 22 num_batches_tracked, not in the file
        Assert.All(report.NotLoaded, k => Assert.EndsWith("num_batches_tracked", k));
        model.eval();

        using var session = new InferenceSession(onnxPath);
        // The graph's input is the already preprocessed image; its only output is the 7x7 average pool
        // of the last stage (Pooling395_Output_0, [1, 512, 1, 1]).
        var inputName = session.InputMetadata.Keys.Single();
        var outputName = session.OutputMetadata.Keys.Single();
        Assert.Equal(new[] { 1, 512, 1, 1 }, session.OutputMetadata[outputName].Dimensions);

        var images = Directory.GetFiles(Path.Combine(TestPaths.Data("bccd"), "JPEGImages"), "*.jpg").Order().Take(3).ToList();
        Assert.Equal(3, images.Count);
        double worst = 0;
        foreach (var image in images)
        {
            using var scope = torch.NewDisposeScope();
            using var rgb = torch.tensor(LoadRgb224(image)).reshape(1, 3, Side, Side);
            var input = PretrainedWeights.NormalizeForImageNetOnnx(rgb).contiguous();
            float[] inputData = input.data<float>().ToArray();

            float[] ours;
            using (torch.no_grad())
                ours = model.forward(input)[2].mean([2, 3]).reshape(512).data<float>().ToArray();

            var ortInput = new DenseTensor<float>(inputData, [1, 3, Side, Side]);
            using var results = session.Run([NamedOnnxValue.CreateFromTensor(inputName, ortInput)]);
            var theirs = results.Single(r => r.Name == outputName).AsEnumerable<float>().ToArray();

            Assert.Equal(512, theirs.Length);
            Assert.True(theirs.Max() > 0.1f, "the reference feature should not be trivially zero");
            var diff = ours.Zip(theirs, (a, b) => Math.Abs(a - b)).Max();
            worst = Math.Max(worst, diff);
        }
        output.WriteLine($"ResNet-18 ONNX pooled feature: max |ours - ONNX Runtime| = {worst:E3} over {images.Count} images x 512");
        Assert.True(worst < 1e-4, $"largest |ours − ONNX Runtime| over 3 images × 512 features = {worst:E2}");
    }

    [Fact]
    public void OnnxImportRefusesTorchvisionBlockLayout()
    {
        using var model = new ResNet(new ResNetOptions(ResNetDepth.R18)); // [2, 2, 2, 2]
        var e = Assert.Throws<HpfDetException>(() => PretrainedWeights.LoadResNet18Onnx(model));
        Assert.Contains("9 residual blocks, the model 8", e.Message);
        Assert.Contains("BlocksPerStage = [2, 2, 2, 3]", e.Message);
    }

    [Fact]
    public void MissingOnnxFileIsAUserError()
    {
        using var model = new ResNet(new ResNetOptions(ResNetDepth.R18, BlocksPerStage: [2, 2, 2, 3]));
        using var dir = TestPaths.NewTempDir();
        var path = Path.Combine(dir, "absent.onnx");
        var e = Assert.Throws<HpfDetException>(() => PretrainedWeights.LoadResNet18Onnx(model, path));
        Assert.Contains(path, e.Message);
    }

    static void AssertSameState(ResNet expected, ResNet actual)
    {
        var a = expected.state_dict();
        var b = actual.state_dict();
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var (key, value) in a)
            Assert.True(TensorsEqual(value, b[key]), key);
    }

    [Fact]
    public void TorchvisionPthRoundTripsIntoResNet50()
    {
        using var dir = TestPaths.NewTempDir();
        var path = Path.Combine(dir, "resnet50.pth");
        using var sourceGenerator = new torch.Generator(7);
        using var sourceScope = InitGenerator.Use(sourceGenerator);
        using var source = new ResNet(new ResNetOptions(ResNetDepth.R50, FrozenStages: -1));
        // Running statistics differ from the defaults so that copying them is checked too.
        using (torch.no_grad())
            foreach (var (name, buffer) in source.named_buffers())
                if (name.EndsWith("running_mean")) buffer.uniform_(-1, 1);
        source.save_py(path);

        using var targetGenerator = new torch.Generator(8);
        using var targetScope = InitGenerator.Use(targetGenerator);
        using var target = new ResNet(new ResNetOptions(ResNetDepth.R50, FrozenStages: -1));
        Assert.False(TensorsEqual(source.state_dict()["layer3.2.conv2.weight"], target.state_dict()["layer3.2.conv2.weight"]));
        var report = PretrainedWeights.LoadTorchvisionStateDict(target, path);
        Assert.Equal(318, report.TensorsLoaded);
        AssertSameState(source, target);
    }

    [Fact]
    public void SafetensorsRoundTripsIntoResNet18()
    {
        using var dir = TestPaths.NewTempDir();
        var path = Path.Combine(dir, "resnet18.safetensors");
        using var sourceGenerator = new torch.Generator(9);
        using var sourceScope = InitGenerator.Use(sourceGenerator);
        using var source = new ResNet(new ResNetOptions(ResNetDepth.R18));
        source.save_safetensors(path);
        using var targetGenerator = new torch.Generator(10);
        using var targetScope = InitGenerator.Use(targetGenerator);
        using var target = new ResNet(new ResNetOptions(ResNetDepth.R18));
        var report = PretrainedWeights.LoadTorchvisionStateDict(target, path);
        Assert.Equal(120, report.TensorsLoaded);
        AssertSameState(source, target);
        // Frozen parameters stay frozen after loading.
        Assert.False(target.named_parameters().Single(p => p.name == "layer1.0.conv1.weight").parameter.requires_grad);
    }

    [Fact]
    public void WrongKeysAreListedAndFcIsIgnored()
    {
        using var dir = TestPaths.NewTempDir();
        var path = Path.Combine(dir, "renamed.pth");
        using var initGenerator = new torch.Generator(11);
        using var initScope = InitGenerator.Use(initGenerator);
        using var source = new ResNet(new ResNetOptions(ResNetDepth.R18));
        var state = source.state_dict();
        var renamed = new Dictionary<string, torch.Tensor>();
        foreach (var (key, value) in state)
            renamed[key == "layer2.1.conv1.weight" ? "layer2.1.convX.weight" : key] = value;
        renamed["fc.weight"] = torch.zeros(1000, 512);
        renamed["fc.bias"] = torch.zeros(1000);
        using (var stream = File.Create(path))
            PyTorchPickler.PickleStateDict(stream, renamed);

        using var target = new ResNet(new ResNetOptions(ResNetDepth.R18));
        using var before = target.state_dict()["conv1.weight"].clone();
        var e = Assert.Throws<HpfDetException>(() => PretrainedWeights.LoadTorchvisionStateDict(target, path));
        Assert.Contains("missing keys (1): layer2.1.conv1.weight", e.Message);
        Assert.Contains("unexpected keys (1): layer2.1.convX.weight", e.Message);
        Assert.DoesNotContain("fc.", e.Message);
        Assert.Contains(path, e.Message);
        // Nothing was written.
        Assert.True(TensorsEqual(before, target.state_dict()["conv1.weight"]));

        // The same file without the rename loads, with fc.* reported as ignored.
        renamed.Remove("layer2.1.convX.weight");
        renamed["layer2.1.conv1.weight"] = state["layer2.1.conv1.weight"];
        using (var stream = File.Create(path))
            PyTorchPickler.PickleStateDict(stream, renamed);
        var report = PretrainedWeights.LoadTorchvisionStateDict(target, path);
        Assert.Equal(["fc.bias", "fc.weight"], report.IgnoredSourceKeys);
        AssertSameState(source, target);
    }
}
