using HpfDet.Losses;
using HpfDet.Models;
using HpfDet.Models.Backbones;
using TorchSharp;

namespace HpfDet.Tests.Detectors;

/// <summary>A small FoveaBox in the style of <see cref="DetectorFixtures"/>.</summary>
public static class FoveaBoxFixtures
{
    /// <summary>
    /// FoveaBox with FPN and head of 64 channels and 2 stacked convs per branch, built under a generator seeded
    /// with <paramref name="seed"/> (<see cref="InitGenerator"/>). <paramref name="headGroups"/> adds GroupNorm
    /// to the head (the gn-head configurations).
    /// </summary>
    public static FoveaBoxDetector TinyFoveaBox(int numClasses, IClassificationLoss? loss = null, bool pretrained = false, int seed = 0, int? headGroups = null)
    {
        using var generator = new torch.Generator((ulong)seed);
        using var scoped = InitGenerator.Use(generator);
        var backboneOptions = DetectorFixtures.TinyBackboneOptions(pretrained);
        return new FoveaBoxDetector(new FoveaBoxDetectorOptions(numClasses, backboneOptions, FpnChannels: 64, HeadChannels: 64, HeadConvs: 2, HeadGroups: headGroups), loss,
            DetectorFixtures.TinyBackbone(backboneOptions, pretrained));
    }
}
