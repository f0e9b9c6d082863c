using HpfDet.Losses;
using HpfDet.Models;
using HpfDet.Models.Backbones;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Benchmarks;

/// <summary>
/// The detector benchmarks' shared problem, the same as bench/peer/peer_bench.py's torchvision side: ResNet
/// with the stem and first stage frozen and BatchNorm frozen, 4-conv heads, and three boxes per image.
/// </summary>
public static class BenchmarkProblem
{
    /// <summary>A registered detector (e.g. "atss-r18") with the benchmark's backbone settings and focal loss.</summary>
    public static DenseDetector Detector(string modelName, int classes = 80, int channels = 256)
    {
        var (family, depth) = DetectorRegistry.Parse(modelName);
        var backbone = new ResNet(new ResNetOptions(depth, FrozenStages: 1, NormEval: true));
        return family.Build(new DetectorBuildOptions(classes, backbone, new SigmoidFocalLoss(), FpnChannels: channels, HeadChannels: channels, HeadConvs: 4));
    }

    /// <summary>The same three boxes per image (x1, y1, x2, y2 at 512×384, scaled to the width), classes 1, 5 and 17.</summary>
    public static DetectionTarget[] Targets(int batch, int width)
    {
        using var boxScale = (width / 512f).ToScalar();
        return Enumerable.Range(0, batch).Select(_ => new DetectionTarget(
            torch.tensor(new float[] { 30, 40, 200, 220, 250, 60, 330, 150, 100, 100, 140, 130 }).reshape(3, 4).mul(boxScale),
            torch.tensor(new long[] { 1, 5, 17 }))).ToArray();
    }
}
