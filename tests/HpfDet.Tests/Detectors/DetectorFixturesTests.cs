using HpfDet.Models;
using HpfDet.Tests.Infrastructure;
using TorchSharp;

namespace HpfDet.Tests.Detectors;

/// <summary>The small detectors tests build are the same for the same seed, whatever other tests draw meanwhile.</summary>
/// <remarks>Sequential: its drawing thread would otherwise take numbers from tests that still seed the global generator.</remarks>
[Collection(SequentialCollection.Name)]
public class DetectorFixturesTests
{
    [Theory]
    [InlineData("atss")]
    [InlineData("fcos")]
    [InlineData("retinanet")]
    [InlineData("fsaf")]
    [InlineData("foveabox")]
    [InlineData("gfl")]
    [InlineData("vfnet")]
    [InlineData("paa")]
    [InlineData("yolof")]
    public void TheSameSeedGivesTheSameWeightsWhateverTheGlobalGeneratorHolds(string family)
    {
        using var scope = torch.NewDisposeScope();
        DenseDetector Build(int seed) => family switch
        {
            "atss" => DetectorFixtures.TinyAtss(3, seed: seed),
            "fcos" => DetectorFixtures.TinyFcos(3, seed: seed),
            "retinanet" => DetectorFixtures.TinyRetinaNet(3, seed: seed),
            "fsaf" => FsafFixtures.TinyFsaf(3, seed: seed),
            "foveabox" => FoveaBoxFixtures.TinyFoveaBox(3, seed: seed),
            "gfl" => GflFixtures.TinyGfl(3, seed: seed),
            "vfnet" => VfnetFixtures.TinyVfnet(3, seed: seed),
            "paa" => PaaFixtures.TinyPaa(3, seed: seed),
            "yolof" => YolofFixtures.TinyYolof(3, seed: seed),
            _ => throw new ArgumentException(family),
        };
        // Another test running in parallel may seed or draw from torch's global generator at any time: here a
        // thread keeps drawing from it while the models are built (a model seeding the global generator and
        // drawing from it would get some of its numbers taken).
        using var stop = new CancellationTokenSource();
        var drawing = new Thread(() =>
        {
            using var _ = torch.NewDisposeScope();
            while (!stop.IsCancellationRequested) torch.rand(64).Dispose();
        });
        drawing.Start();
        torch.manual_seed(101);
        var first = Build(7);
        torch.manual_seed(202);
        var second = Build(7);
        var other = Build(8);
        stop.Cancel();
        drawing.Join();
        bool anyDiffers = false;
        foreach (var ((name, a), (_, b)) in first.state_dict().Zip(second.state_dict()))
            Assert.True(a.equal(b).all().item<bool>(), $"{name} differs between two builds with seed 7");
        foreach (var ((_, a), (_, c)) in first.state_dict().Zip(other.state_dict()))
            anyDiffers |= !a.equal(c).all().item<bool>();
        Assert.True(anyDiffers, "seeds 7 and 8 gave the same weights");
    }
}
