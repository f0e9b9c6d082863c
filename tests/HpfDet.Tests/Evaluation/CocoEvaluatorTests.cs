using HpfDet.Evaluation;

namespace HpfDet.Tests.Evaluation;

public class CocoEvaluatorTests
{
    [Fact]
    public void StableSortKeepsInputOrderAmongTies()
    {
        var rng = new Random(3);
        foreach (var n in new[] { 5, 24, 25, 1000 })
        {
            var keys = Enumerable.Range(0, n).Select(_ => (double)rng.Next(7)).ToArray();
            var items = Enumerable.Range(0, n).Select(i => 1000 + i).ToArray();
            var expected = items.Zip(keys).OrderBy(p => p.Second).Select(p => p.First).ToArray(); // LINQ OrderBy is stable
            CocoEvaluator.StableSortByKey(keys, items);
            Assert.Equal(expected, items);
        }
    }

    [Fact]
    public void OnlyTheTopHundredDetectionsPerImageCount()
    {
        // 100 higher-scored misses push the one exact hit out of maxDets=100; with 99 misses it stays in.
        CocoEvalResult Run(int misses)
        {
            var gt = new CocoGroundTruth([new CocoImage(1)], [new CocoCategory(1, "a")], [CocoAnnotation.FromBox(1, 1, 1, 100, 100, 50, 50)]);
            var dts = Enumerable.Range(0, misses).Select(i => new CocoDetection(1, 1, 300 + i, 300, 10, 10, 0.9)).ToList();
            dts.Add(new CocoDetection(1, 1, 100, 100, 50, 50, 0.5));
            return CocoEvaluator.Evaluate(gt, new CocoDetections(dts));
        }
        Assert.Equal(0.0, Run(100).Stats[8]);
        Assert.Equal(1.0, Run(99).Stats[8]);
        Assert.Equal(0.0, Run(99).Stats[7]); // maxDets 10 does not reach it
        // Precision at the hit: 1 / 100 for every recall threshold.
        Assert.Equal(1.0 / (99 + 1 + 2.220446049250313e-16), Run(99).Precision[0, 50, 0, 0, 2], 1e-18);
    }

    [Fact]
    public void CrowdIouIsIntersectionOverDetectionArea()
    {
        // Detection 10x10 fully inside a 100x100 crowd box: IoU 1 (not 0.01), so it is ignored, not a FP.
        Assert.Equal(1.0, CocoEvaluator.BoxIou(10, 10, 10, 10, 100, 0, 0, 100, 100, crowd: true));
        Assert.Equal(0.01, CocoEvaluator.BoxIou(10, 10, 10, 10, 100, 0, 0, 100, 100, crowd: false), 1e-15);
        Assert.Equal(0.0, CocoEvaluator.BoxIou(10, 10, 0, 10, 0, 0, 0, 100, 100, crowd: false));
    }
}
