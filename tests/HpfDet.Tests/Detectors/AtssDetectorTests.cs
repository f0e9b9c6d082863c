using HpfDet.Losses;
using HpfDet.Models;
using HpfDet.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Detectors;

public class AtssDetectorTests
{
    [Fact]
    public void HeadOutputsHaveOneMapPerLevelWithTheExpectedShapes()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator(1);
        var model = DetectorFixtures.TinyAtss(numClasses: 3);
        var outputs = model.forward(torch.randn(2, 3, 128, 96, generator: generator));
        int[] strides = [8, 16, 32, 64, 128];
        for (int l = 0; l < 5; l++)
        {
            // ceil(H / stride) for the stride-2 convs with padding: 128 -> 16, 8, 4, 2, 1; 96 -> 12, 6, 3, 2, 1.
            long h = (long)Math.Ceiling(128.0 / strides[l]), w = (long)Math.Ceiling(96.0 / strides[l]);
            Assert.Equal([2L, 3, h, w], outputs.ClassLogits[l].shape);
            Assert.Equal([2L, 4, h, w], outputs.BoxRegression[l].shape);
            Assert.Equal([2L, 1, h, w], outputs["centerness"][l].shape);
        }
        // Classifier bias initialised to the prior 0.01: every initial score is close to it.
        var p = torch.sigmoid(outputs.ClassLogits[0]).mean().item<float>();
        Assert.InRange(p, 0.005f, 0.02f);
    }

    [Fact]
    public void AnImageWithoutGroundTruthGivesZeroBoxLoss()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator(2);
        var model = DetectorFixtures.TinyAtss(numClasses: 3);
        var empty = new DetectionTarget(torch.zeros(0, 4), torch.zeros(0, dtype: ScalarType.Int64));
        var losses = model.ComputeLosses(torch.randn(1, 3, 64, 64, generator: generator), [empty]);
        Assert.Equal(["classification", "box", "centerness"], losses.Names.ToArray());
        Assert.Equal(0.0f, losses["box"].item<float>());
        Assert.Equal(0.0f, losses["centerness"].item<float>());
        Assert.Equal(0.0f, losses.NumPositives.item<float>());
        var cls = losses.Classification.item<float>();
        Assert.True(cls > 0 && float.IsFinite(cls));
        losses.Total.backward();
    }

    [Fact]
    public void AGroundTruthBoxGetsPositivesAndFiniteLosses()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator(3);
        foreach (IClassificationLoss loss in new IClassificationLoss[] { new SigmoidFocalLoss(), new HierarchicalProgressiveFocalLoss(), new QualityFocalLoss(), new VarifocalLoss() })
        {
            var model = DetectorFixtures.TinyAtss(numClasses: 3, loss);
            var target = new DetectionTarget(torch.tensor(new float[] { 10, 12, 50, 60 }).reshape(1, 4), torch.tensor(new long[] { 2 }));
            var losses = model.ComputeLosses(torch.randn(1, 3, 64, 64, generator: generator), [target]);
            Assert.True(losses.NumPositives.item<float>() >= 1);
            foreach (var v in losses.Terms.Select(t => t.Value))
                Assert.True(float.IsFinite(v.item<float>()) && v.item<float>() > 0, $"{loss.Name}: {v.item<float>()}");
            losses.Total.backward();
        }
    }

    [Fact]
    public void CenternessTargetsByHand()
    {
        using var scope = torch.NewDisposeScope();
        // Anchor centre (20, 30) in box [10, 20, 40, 35]: l = 10, r = 20, t = 10, b = 5 ->
        // sqrt(10/20 · 5/10) = 0.5. Centre of the box: 1.
        var anchors = torch.tensor(new float[] { 16, 26, 24, 34, 21, 23.5f, 29, 31.5f }).reshape(2, 4);
        var boxes = torch.tensor(new float[] { 10, 20, 40, 35, 10, 20, 40, 35 }).reshape(2, 4);
        var c = AtssDetector.CenternessTargets(anchors, boxes).data<float>().ToArray();
        Assert.Equal(0.5f, c[0], 5);
        Assert.Equal(1.0f, c[1], 5);
    }

    [Fact]
    public void PredictReturnsAtMostMaxDetectionsSortedByScore()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator(4);
        var model = DetectorFixtures.TinyAtss(numClasses: 3);
        model.eval();
        using (torch.no_grad())   // lower the classifier bias so that the untrained model produces candidates
            model.named_parameters().First(p => p.name.EndsWith("atss_cls.bias")).parameter.fill_(0.0f);
        var dets = model.Predict(torch.randn(2, 3, 64, 96, generator: generator), [(64, 96), (50, 80)]);
        Assert.Equal(2, dets.Count);
        foreach (var (d, (h, w)) in dets.Zip(new[] { (64, 96), (50, 80) }))
        {
            Assert.InRange(d.Count, 1, 100);
            var s = d.Scores.ToArray<float>();
            for (int i = 1; i < s.Length; i++) Assert.True(s[i - 1] >= s[i]);
            var b = d.Boxes.ToArray<float>();
            for (int i = 0; i < b.Length; i += 4)
            {
                Assert.InRange(b[i], 0, w); Assert.InRange(b[i + 2], 0, w);
                Assert.InRange(b[i + 1], 0, h); Assert.InRange(b[i + 3], 0, h);
            }
        }
    }
}
