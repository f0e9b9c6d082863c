using HpfDet.Losses;
using HpfDet.Models;
using HpfDet.Models.Backbones;
using TorchSharp;

namespace HpfDet.Tests.Detectors;

/// <summary>A small FoveaBox in the style of <see cref="DetectorFixtures"/>.</summary>
public static class FoveaBoxFixtures
{
    /// <summary>
    /// FoveaBox with FPN and head of 64 channels and 2 stacked convs per branch. The FPN and head are initialised
    /// from a generator of their own (<paramref name="seed"/>), not torch's global one that tests running in
    /// parallel share (the backbone is pretrained or re-drawn from it). <paramref name="headGroups"/> adds
    /// GroupNorm to the head (the gn-head configurations).
    /// </summary>
    public static FoveaBoxDetector TinyFoveaBox(int numClasses, IClassificationLoss? loss = null, bool pretrained = false, int seed = 0, int? headGroups = null)
    {
        var backboneOptions = new ResNetOptions(ResNetDepth.R18, FrozenStages: 1, NormEval: true,
            BlocksPerStage: pretrained ? PretrainedWeights.ImageNetOnnxBlocksPerStage : [1, 1, 1, 1]);
        var backbone = new ResNet(backboneOptions);
        if (pretrained) PretrainedWeights.LoadResNet18Onnx(backbone);
        var model = new FoveaBoxDetector(new FoveaBoxDetectorOptions(numClasses, backboneOptions, FpnChannels: 64, HeadChannels: 64, HeadConvs: 2, HeadGroups: headGroups), loss, backbone);
        using var generator = new torch.Generator((ulong)seed);
        using var _ = torch.no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            if (p.dim() != 4) continue;
            if (name.StartsWith("neck."))
            {
                // Xavier-uniform, as the FPN initialises itself.
                long receptive = p.shape[2] * p.shape[3];
                double bound = Math.Sqrt(6.0 / ((p.shape[0] + p.shape[1]) * receptive));
                p.uniform_(-bound, bound, generator);
            }
            else if (name.StartsWith("head.")) p.normal_(0, 0.01, generator);     // the head's normal(0, 0.01)
            else if (!pretrained) p.normal_(0, Math.Sqrt(2.0 / (p.shape[1] * p.shape[2] * p.shape[3])), generator);
        }
        return model;
    }
}
