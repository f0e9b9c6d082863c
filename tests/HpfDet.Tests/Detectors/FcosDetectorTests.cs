using HpfDet.Losses;
using HpfDet.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Detectors;

public class FcosDetectorTests
{
    [Fact]
    public void EveryClassificationLossGivesPositivesAndFiniteLosses()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator(1);
        foreach (IClassificationLoss loss in new IClassificationLoss[] { new SigmoidFocalLoss(), new HierarchicalProgressiveFocalLoss(), new QualityFocalLoss(), new VarifocalLoss() })
        {
            var model = DetectorFixtures.TinyFcos(numClasses: 3, loss);
            var target = new DetectionTarget(torch.tensor(new float[] { 10, 12, 50, 60 }).reshape(1, 4), torch.tensor(new long[] { 2 }));
            var losses = model.ComputeLosses(torch.randn(1, 3, 64, 64, generator: generator), [target]);
            Assert.Equal(["classification", "box", "centerness"], losses.Names.ToArray());
            Assert.True(losses.NumPositives.item<float>() >= 1);
            foreach (var v in losses.Terms.Select(t => t.Value))
                Assert.True(float.IsFinite(v.item<float>()) && v.item<float>() > 0, $"{loss.Name}: {v.item<float>()}");
            losses.Total.backward();
        }
    }

    [Fact]
    public void TheRegistryBuildsFcos()
    {
        Assert.Contains("fcos-r18", DetectorRegistry.Names);
        Assert.Equal("fcos", DetectorRegistry.Parse("fcos-r50").Family.Name);
    }
}
