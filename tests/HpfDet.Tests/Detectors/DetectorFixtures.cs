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
    /// A small ATSS whose weights come from a generator of its own (<paramref name="seed"/>), as
    /// <see cref="TinyFcos"/>'s: the same seed gives the same model whatever other tests draw meanwhile.
    /// </summary>
    public static AtssDetector TinyAtss(int numClasses, IClassificationLoss? loss = null, bool pretrained = false, int seed = 0)
    {
        var backboneOptions = new ResNetOptions(ResNetDepth.R18, FrozenStages: 1, NormEval: true,
            BlocksPerStage: pretrained ? PretrainedWeights.ImageNetOnnxBlocksPerStage : [1, 1, 1, 1]);
        var backbone = new ResNet(backboneOptions);
        if (pretrained) PretrainedWeights.LoadResNet18Onnx(backbone);
        var model = new AtssDetector(new AtssDetectorOptions(numClasses, backboneOptions, FpnChannels: 64, HeadChannels: 64, HeadConvs: 2, HeadGroups: 16), loss, backbone);
        DrawConvolutionWeights(model, seed, pretrained);
        return model;
    }

    /// <summary>
    /// A small FCOS whose FPN and head weights come from a generator of its own (<paramref name="seed"/>),
    /// not torch's global one that tests running in parallel share: the same seed gives the same model.
    /// </summary>
    public static FcosDetector TinyFcos(int numClasses, IClassificationLoss? loss = null, bool pretrained = false, int seed = 0)
    {
        var backboneOptions = new ResNetOptions(ResNetDepth.R18, FrozenStages: 1, NormEval: true,
            BlocksPerStage: pretrained ? PretrainedWeights.ImageNetOnnxBlocksPerStage : [1, 1, 1, 1]);
        var backbone = new ResNet(backboneOptions);
        if (pretrained) PretrainedWeights.LoadResNet18Onnx(backbone);
        var model = new FcosDetector(new FcosDetectorOptions(numClasses, backboneOptions, FpnChannels: 64, HeadConvs: 2, HeadGroups: 16), loss, backbone);
        DrawConvolutionWeights(model, seed, pretrained);
        return model;
    }

    /// <summary>
    /// Redraws every convolution weight from a generator seeded with <paramref name="seed"/>, not from torch's
    /// global one that tests running in parallel share: the FPN Xavier-uniform (its own initialisation), the
    /// head Normal(0, 0.01) (torchvision's and mmdetection's), an untrained backbone He-normal. The rest of the
    /// parameters (biases, norms, scales) the modules set to constants.
    /// </summary>
    static void DrawConvolutionWeights(DenseDetector model, int seed, bool pretrained)
    {
        using var generator = new torch.Generator((ulong)seed);
        using var _ = torch.no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            if (p.dim() != 4) continue;
            if (name.StartsWith("neck."))
            {
                long receptive = p.shape[2] * p.shape[3];
                double bound = Math.Sqrt(6.0 / ((p.shape[0] + p.shape[1]) * receptive));
                p.copy_(torch.rand(p.shape, generator: generator).mul(2 * bound).sub(bound));
            }
            else if (name.StartsWith("head.")) p.copy_(torch.randn(p.shape, generator: generator).mul(0.01));
            else if (!pretrained) p.copy_(torch.randn(p.shape, generator: generator).mul(Math.Sqrt(2.0 / (p.shape[1] * p.shape[2] * p.shape[3]))));
        }
    }

    /// <summary>
    /// A small RetinaNet (FPN and head 64 channels, 2 head convs). The FPN and head are initialised from a
    /// local generator seeded with <paramref name="seed"/> (and the backbone is pretrained or, if not,
    /// re-drawn from it), so the weights do not depend on other tests using torch's global generator.
    /// <paramref name="kaimingHeadConvs"/> draws the head's stacked convs He-normal instead of torchvision's normal(0, 0.01).
    /// </summary>
    public static RetinaNetDetector TinyRetinaNet(int numClasses, IClassificationLoss? loss = null, bool pretrained = false, int seed = 0, bool kaimingHeadConvs = false, int? headGroups = null)
    {
        var backboneOptions = new ResNetOptions(ResNetDepth.R18, FrozenStages: 1, NormEval: true,
            BlocksPerStage: pretrained ? PretrainedWeights.ImageNetOnnxBlocksPerStage : [1, 1, 1, 1]);
        var backbone = new ResNet(backboneOptions);
        if (pretrained) PretrainedWeights.LoadResNet18Onnx(backbone);
        var model = new RetinaNetDetector(new RetinaNetDetectorOptions(numClasses, backboneOptions, FpnChannels: 64, HeadConvs: 2, HeadGroups: headGroups), loss, backbone);
        using var generator = new torch.Generator((ulong)seed);
        using (torch.no_grad())
        {
            var reinit = pretrained ? model.Neck.named_parameters() : model.Neck.named_parameters().Concat(model.Backbone.named_parameters());
            foreach (var (name, p) in reinit)
            {
                if (p.dim() == 4)
                {
                    // Xavier-uniform (the FPN's initialisation) drawn from the local generator.
                    long receptive = p.shape[2] * p.shape[3];
                    double bound = Math.Sqrt(6.0 / ((p.shape[0] + p.shape[1]) * receptive));
                    p.uniform_(-bound, bound, generator);
                }
                else if (name.EndsWith("bias")) torch.nn.init.zeros_(p);
            }
        }
        ((HpfDet.Models.Heads.RetinaNetHead)model.Head).ResetParameters(generator);
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

    public static DetectionDataset Shapes(int count, int size = 128, int seed = 0, int maxObjects = 3, int minObject = 16, int maxObject = 64) =>
        SyntheticShapesDataset.Create(new SyntheticShapesOptions(count, size, seed, minObject, maxObject, maxObjects, NoiseAmplitude: 4));

    public static DataLoader TrainLoader(DetectionDataset data, int size, int batch = 2, int seed = 0, bool flip = true) =>
        new(data, TransformPipeline.ForTraining([new ResizeScale(size, size)], flipProbability: flip ? 0.5 : 0.0),
            ImageNormalization.CaffeBgr, new DataLoaderOptions(batch, Workers: 1, Shuffle: true, Seed: seed));

    public static DataLoader EvalLoader(DetectionDataset data, int size, int batch = 2) =>
        new(data, TransformPipeline.ForEvaluation(new ResizeScale(size, size)), ImageNormalization.CaffeBgr,
            new DataLoaderOptions(batch, Workers: 1, Shuffle: false));
}
