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
    public static AtssDetector TinyAtss(int numClasses, IClassificationLoss? loss = null, bool pretrained = false, int seed = 0)
    {
        torch.manual_seed(seed);
        var backboneOptions = new ResNetOptions(ResNetDepth.R18, FrozenStages: 1, NormEval: true,
            BlocksPerStage: pretrained ? PretrainedWeights.ImageNetOnnxBlocksPerStage : [1, 1, 1, 1]);
        var backbone = new ResNet(backboneOptions);
        if (pretrained) PretrainedWeights.LoadResNet18Onnx(backbone);
        return new AtssDetector(new AtssDetectorOptions(numClasses, backboneOptions, FpnChannels: 64, HeadChannels: 64, HeadConvs: 2, HeadGroups: 16), loss, backbone);
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
