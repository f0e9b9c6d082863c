using HpfDet.Data;
using HpfDet.Data.Transforms;
using HpfDet.Losses;
using HpfDet.Models;
using HpfDet.Models.Backbones;
using TorchSharp;

namespace HpfDet.Tests.Detectors;

/// <summary>Small detectors and synthetic data that keep detector tests within seconds on a CPU.</summary>
public static class DetectorFixtures
{
    /// <summary>
    /// A small ATSS (FPN and head 64 channels, 2 head convs) built under a generator of its own
    /// (<paramref name="seed"/>, <see cref="InitGenerator"/>): the same seed gives the same model whatever other
    /// tests draw from torch's global generator meanwhile.
    /// </summary>
    public static AtssDetector TinyAtss(int numClasses, IClassificationLoss? loss = null, bool pretrained = false, int seed = 0)
    {
        using var generator = new torch.Generator((ulong)seed);
        using var scoped = InitGenerator.Use(generator);
        var backboneOptions = TinyBackboneOptions(pretrained);
        return new AtssDetector(new AtssDetectorOptions(numClasses, backboneOptions, FpnChannels: 64, HeadChannels: 64, HeadConvs: 2, HeadGroups: 16), loss, TinyBackbone(backboneOptions, pretrained));
    }

    /// <summary>A small FCOS (FPN and head 64 channels, 2 head convs), built under a generator of its own as <see cref="TinyAtss"/>.</summary>
    public static FcosDetector TinyFcos(int numClasses, IClassificationLoss? loss = null, bool pretrained = false, int seed = 0)
    {
        using var generator = new torch.Generator((ulong)seed);
        using var scoped = InitGenerator.Use(generator);
        var backboneOptions = TinyBackboneOptions(pretrained);
        return new FcosDetector(new FcosDetectorOptions(numClasses, backboneOptions, FpnChannels: 64, HeadConvs: 2, HeadGroups: 16), loss, TinyBackbone(backboneOptions, pretrained));
    }

    /// <summary>
    /// A small RetinaNet (FPN and head 64 channels, 2 head convs), built under a generator of its own as
    /// <see cref="TinyAtss"/>. <paramref name="kaimingHeadConvs"/> then draws the head's stacked convs He-normal
    /// from the same generator instead of torchvision's normal(0, 0.01).
    /// </summary>
    public static RetinaNetDetector TinyRetinaNet(int numClasses, IClassificationLoss? loss = null, bool pretrained = false, int seed = 0, bool kaimingHeadConvs = false, int? headGroups = null)
    {
        using var generator = new torch.Generator((ulong)seed);
        using var scoped = InitGenerator.Use(generator);
        var backboneOptions = TinyBackboneOptions(pretrained);
        var model = new RetinaNetDetector(new RetinaNetDetectorOptions(numClasses, backboneOptions, FpnChannels: 64, HeadConvs: 2, HeadGroups: headGroups), loss, TinyBackbone(backboneOptions, pretrained));
        if (kaimingHeadConvs)
        {
            // Without normalisation, normal(0, 0.01) stacked convs shrink the features the classifier sees
            // (×0.24 per 64-channel layer), so it needs thousands of iterations; He-normal keeps their scale.
            using var _ = torch.no_grad();
            foreach (var (name, p) in model.Head.named_parameters().Where(p => p.name.Contains(".conv.") && p.name.EndsWith("weight")))
                p.normal_(0, Math.Sqrt(2.0 / (p.shape[1] * p.shape[2] * p.shape[3])), generator);
        }
        return model;
    }

    /// <summary>The fixtures' ResNet-18: one block per stage untrained (fast), the ImageNet blocks when pretrained.</summary>
    public static ResNetOptions TinyBackboneOptions(bool pretrained) => new(ResNetDepth.R18, FrozenStages: 1, NormEval: true,
        BlocksPerStage: pretrained ? PretrainedWeights.ImageNetOnnxBlocksPerStage : [1, 1, 1, 1]);

    /// <summary>The backbone for <see cref="TinyBackboneOptions"/>, with the ImageNet weights loaded when pretrained.</summary>
    public static ResNet TinyBackbone(ResNetOptions options, bool pretrained)
    {
        var backbone = new ResNet(options);
        if (pretrained) PretrainedWeights.LoadResNet18Onnx(backbone);
        return backbone;
    }

    public static DetectionDataset Shapes(int count, int size = 128, int seed = 0, int maxObjects = 3, int minObject = 16, int maxObject = 64) =>
        SyntheticShapesDataset.Create(new SyntheticShapesOptions(count, size, seed, minObject, maxObject, maxObjects, NoiseAmplitude: 4));

    public static DataLoader TrainLoader(DetectionDataset data, int size, int batch = 2, int seed = 0, bool flip = true) =>
        new(data, TransformPipeline.ForTraining([new ResizeScale(size, size)], flipProbability: flip ? 0.5 : 0.0),
            ImageNormalization.CaffeBgr, new DataLoaderOptions(batch, Workers: 1, Shuffle: true, Seed: seed));

    public static DataLoader EvalLoader(DetectionDataset data, int size, int batch = 2) =>
        new(data, TransformPipeline.ForEvaluation(new ResizeScale(size, size)), ImageNormalization.CaffeBgr,
            new DataLoaderOptions(batch, Workers: 1, Shuffle: false));
}
