using HpfDet.Data;
using HpfDet.Data.Transforms;
using HpfDet.Tests.Infrastructure;
using TorchSharp;

namespace HpfDet.Tests.Data;

public class DataLoaderTests
{
    static DetectionDataset SmallBccd(int count)
    {
        var full = VocDatasetReader.Read(TestPaths.Data("bccd"), "val");
        return new DetectionDataset(full.Name, full.ClassNames, full.Samples.Take(count).ToList(), full.Issues);
    }

    static readonly TransformPipeline Train = TransformPipeline.ForTraining(
        [new ResizeScale(160, 400), new ResizeScale(192, 400), new ResizeScale(224, 400)], photometricDistortion: true);

    static List<(float[] Images, long[] Shape, float[][] Boxes, long[][] Labels, ImageMeta[] Meta)> Run(DetectionDataset d, int workers, int epoch)
    {
        var loader = new DataLoader(d, Train, ImageNormalization.CaffeBgr, new DataLoaderOptions(BatchSize: 3, Workers: workers, Prefetch: 2, Seed: 7));
        var result = new List<(float[], long[], float[][], long[][], ImageMeta[])>();
        foreach (var batch in loader.Epoch(epoch))
            using (batch)
                result.Add((batch.Images.data<float>().ToArray(), batch.Images.shape,
                    batch.Boxes.Select(b => b.data<float>().ToArray()).ToArray(),
                    batch.Labels.Select(b => b.data<long>().ToArray()).ToArray(), batch.Meta.ToArray()));
        return result;
    }

    [Fact]
    public void Batches_are_identical_for_a_seed_whatever_the_worker_count()
    {
        var d = SmallBccd(8);
        var reference = Run(d, 0, epoch: 1);
        Assert.Equal(3, reference.Count); // 8 images, batch 3, keep last
        foreach (var workers in new[] { 1, 3 })
        {
            var other = Run(d, workers, epoch: 1);
            Assert.Equal(reference.Count, other.Count);
            for (var b = 0; b < reference.Count; b++)
            {
                Assert.Equal(reference[b].Shape, other[b].Shape);
                Assert.Equal(reference[b].Images, other[b].Images);
                Assert.Equal(reference[b].Meta, other[b].Meta);
                for (var i = 0; i < reference[b].Boxes.Length; i++)
                {
                    Assert.Equal(reference[b].Boxes[i], other[b].Boxes[i]);
                    Assert.Equal(reference[b].Labels[i], other[b].Labels[i]);
                }
            }
        }
        // Another epoch reshuffles and redraws.
        var epoch2 = Run(d, 2, epoch: 2);
        Assert.NotEqual(reference.SelectMany(r => r.Meta.Select(m => m.DatasetIndex)), epoch2.SelectMany(r => r.Meta.Select(m => m.DatasetIndex)));
    }

    [Fact]
    public void Batch_is_padded_to_32_and_boxes_map_back_to_the_annotations()
    {
        var d = SmallBccd(4);
        var loader = new DataLoader(d, Train, ImageNormalization.CaffeBgr, new DataLoaderOptions(BatchSize: 4, Workers: 2, Seed: 3));
        using var batch = loader.Epoch(0).Single();
        Assert.Equal(4, batch.Images.shape[0]);
        Assert.Equal(3, batch.Images.shape[1]);
        Assert.Equal(0, batch.Images.shape[2] % 32);
        Assert.Equal(0, batch.Images.shape[3] % 32);
        Assert.Equal(torch.ScalarType.Float32, batch.Images.dtype);
        for (var i = 0; i < batch.Count; i++)
        {
            var meta = batch.Meta[i];
            var sample = d[meta.DatasetIndex];
            Assert.Equal(torch.ScalarType.Int64, batch.Labels[i].dtype);
            Assert.Equal([sample.Boxes.Count, 4L], batch.Boxes[i].shape);
            var boxes = batch.Boxes[i].data<float>().ToArray();
            Assert.All(boxes.Where((_, k) => k % 2 == 0), x => Assert.InRange(x, 0, meta.Width + 1e-3));
            meta.MapToOriginal(boxes);
            for (var k = 0; k < sample.Boxes.Count; k++)
            {
                var b = sample.Boxes[k];
                Assert.Equal(b.X1, boxes[k * 4], 3); Assert.Equal(b.Y1, boxes[k * 4 + 1], 3);
                Assert.Equal(b.X2, boxes[k * 4 + 2], 3); Assert.Equal(b.Y2, boxes[k * 4 + 3], 3);
            }
            Assert.Equal(sample.Boxes.Select(b => (long)b.Label), batch.Labels[i].data<long>().ToArray());
            // Padding is zero after normalisation.
            if (meta.Width < batch.Images.shape[3])
                Assert.Equal(0f, batch.Images[i, 0, 0, batch.Images.shape[3] - 1].item<float>());
        }
    }

    [Fact]
    public void Unreadable_image_is_left_out_with_an_issue_or_throws_when_strict()
    {
        using var dir = TestPaths.NewTempDir();
        var good = Path.Combine(dir, "good.png");
        DataTestFiles.WritePng(good, 40, 30);
        var bad = Path.Combine(dir, "bad.png");
        File.WriteAllBytes(bad, File.ReadAllBytes(good)[..40]); // header survives, pixels do not
        var samples = new[] { good, bad, good }.Select((p, i) => new DetectionSample(i + 1, p, Path.GetFileName(p), 40, 30, [new BoxAnnotation(1, 1, 10, 10, 0)])).ToList();
        var d = new DetectionDataset("t", ["a"], samples, new DataIssues());
        var eval = TransformPipeline.ForEvaluation(new ResizeScale(30, 40));

        var loader = new DataLoader(d, eval, ImageNormalization.ImageNetRgb, new DataLoaderOptions(BatchSize: 3, Workers: 1, Shuffle: false));
        using (var batch = loader.Epoch(0).Single())
        {
            Assert.Equal(2, batch.Count);
            Assert.Equal([0, 2], batch.Meta.Select(m => m.DatasetIndex));
        }
        Assert.Equal(DataIssueKind.CorruptImage, Assert.Single(loader.Issues.Items).Kind);
        Assert.Equal(bad, loader.Issues.Items[0].File);

        var strict = new DataLoader(d, eval, ImageNormalization.ImageNetRgb, new DataLoaderOptions(BatchSize: 1, Workers: 2, Shuffle: false, Strict: true));
        var e = Assert.Throws<HpfDetException>(() => { foreach (var b in strict.Epoch(0)) b.Dispose(); });
        Assert.Contains("bad.png", e.Message);
    }

    [Fact]
    public void Stopping_early_ends_the_workers()
    {
        var d = SmallBccd(10);
        var loader = new DataLoader(d, TransformPipeline.ForEvaluation(new ResizeScale(96, 160)), ImageNormalization.CaffeBgr,
            new DataLoaderOptions(BatchSize: 1, Workers: 2, Prefetch: 2));
        var taken = 0;
        foreach (var b in loader.Epoch(0))
        {
            b.Dispose();
            if (++taken == 2) break;
        }
        Assert.Equal(2, taken);
        Assert.Equal(10, loader.BatchesPerEpoch);
        Assert.Equal(3, new DataLoader(d, TransformPipeline.ForEvaluation(new ResizeScale(96, 160)), ImageNormalization.CaffeBgr,
            new DataLoaderOptions(BatchSize: 4, DropLast: false)).BatchesPerEpoch);
        Assert.Equal(2, new DataLoader(d, TransformPipeline.ForEvaluation(new ResizeScale(96, 160)), ImageNormalization.CaffeBgr,
            new DataLoaderOptions(BatchSize: 4, DropLast: true)).BatchesPerEpoch);
    }
}
