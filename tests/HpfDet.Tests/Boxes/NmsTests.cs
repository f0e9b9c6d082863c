using HpfDet.Boxes;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Boxes;

public class NmsTests
{
    [Fact]
    public void HandExample()
    {
        using var scope = NewDisposeScope();
        // 0: A [0,0,10,10] 0.9; 1: B [1,1,11,11] 0.8 (IoU with A = 81/119 = 0.68);
        // 2: C [20,20,30,30] 0.7 (disjoint); 3: D = A with score 0.9 (tie with A, later index);
        // 4: E [20,20,30,25] 0.6 (IoU with C = 50/100 = 0.5, exactly the threshold: not suppressed).
        // Visit order A, D, B, C, E: keep A; D (IoU 1) and B (0.68) suppressed; keep C; keep E.
        var boxes = tensor(new float[] { 0, 0, 10, 10, 1, 1, 11, 11, 20, 20, 30, 30, 0, 0, 10, 10, 20, 20, 30, 25 }).reshape(5, 4);
        var scores = tensor(new float[] { 0.9f, 0.8f, 0.7f, 0.9f, 0.6f });
        var keep = Nms.Apply(boxes, scores, 0.5);
        Assert.Equal(ScalarType.Int64, keep.dtype);
        Assert.Equal(new long[] { 0, 2, 4 }, keep.data<long>().ToArray());
        Assert.Equal(new long[] { 0, 2, 4 }, Nms.Suppress(boxes, scores, null, 0.5, onHost: false).data<long>().ToArray());
        // Class-aware: D in its own class survives; B shares A's class and is still suppressed.
        var classes = tensor(new long[] { 0, 0, 0, 1, 0 });
        Assert.Equal(new long[] { 0, 3, 2, 4 }, Nms.BatchedNms(boxes, scores, classes, 0.5).data<long>().ToArray());
    }

    [Fact]
    public void EmptyInputGivesEmptyInt64()
    {
        using var scope = NewDisposeScope();
        var keep = Nms.Apply(zeros(0, 4), zeros(0), 0.5);
        Assert.Equal(0, keep.shape[0]);
        Assert.Equal(ScalarType.Int64, keep.dtype);
    }

    [Theory]
    [InlineData(1, 70, 0.5, 1L << 21)]
    [InlineData(2, 300, 0.3, 1L << 21)]
    [InlineData(3, 300, 0.7, 1000)]   // tiny chunks: several chunk rows
    [InlineData(4, 129, 0.5, 64)]     // one row per chunk, word boundary at 64/128
    public void MatchesBruteForceOnCrowdedBoxesWithTiedScores(int seed, int n, double threshold, long chunkElements)
    {
        using var scope = NewDisposeScope();
        var random = new Random(seed);
        var (coords, scores, classes) = RandomCase(random, n);
        var boxes = tensor(coords.Select(c => (float)c).ToArray()).reshape(n, 4);
        var scoreTensor = tensor(scores.Select(s => (float)s).ToArray());
        var classTensor = tensor(classes.Select(c => (long)c).ToArray());

        var expected = BruteForce(coords, scores, null, threshold);
        var expectedBatched = BruteForce(coords, scores, classes, threshold);
        foreach (var onHost in new[] { false, true }) // bit-matrix path (accelerators) and host path (CPU)
        {
            var actual = Nms.Suppress(boxes, scoreTensor, null, threshold, chunkElements, onHost).data<long>().ToArray();
            Assert.Equal(expected, actual);
            var actualBatched = Nms.Suppress(boxes, scoreTensor, classTensor, threshold, chunkElements, onHost).data<long>().ToArray();
            Assert.Equal(expectedBatched, actualBatched);
        }
        Assert.Equal(expectedBatched, Nms.BatchedNms(boxes, scoreTensor, classTensor, threshold).data<long>().ToArray());
        Assert.True(expected.Length < n && expected.Length > 1, "the case should suppress something and keep something");
    }

    /// <summary>Integer boxes in a 40x40 area (many overlaps, a few zero-area), scores from 8 values (many ties), 3 classes.</summary>
    private static (double[] Coords, double[] Scores, int[] Classes) RandomCase(Random random, int n)
    {
        var coords = new double[n * 4];
        var scores = new double[n];
        var classes = new int[n];
        for (var i = 0; i < n; i++)
        {
            double x1 = random.Next(0, 40), y1 = random.Next(0, 40);
            double w = random.Next(0, 20), h = random.Next(1, 20);
            if (i % 17 == 0)
            {
                w = 0;
            }
            coords[i * 4] = x1;
            coords[i * 4 + 1] = y1;
            coords[i * 4 + 2] = x1 + w;
            coords[i * 4 + 3] = y1 + h;
            scores[i] = random.Next(0, 8) / 8.0;
            classes[i] = random.Next(0, 3);
        }
        return (coords, scores, classes);
    }

    /// <summary>
    /// Textbook greedy NMS: stable descending sort, suppress when IoU &gt; threshold. Like torchvision's kernel,
    /// the IoU is a float32 quotient compared with the float64 threshold: at threshold 0.3 an IoU of exactly
    /// 3/10 is float32 0.3000000119 &gt; 0.3, so torchvision suppresses it where exact arithmetic would not.
    /// </summary>
    private static long[] BruteForce(double[] c, double[] scores, int[]? classes, double threshold)
    {
        var n = scores.Length;
        var order = Enumerable.Range(0, n).OrderByDescending(i => scores[i]).ToArray(); // LINQ sort is stable
        var suppressed = new bool[n];
        var keep = new List<long>();
        foreach (var i in order)
        {
            if (suppressed[i])
            {
                continue;
            }
            keep.Add(i);
            foreach (var j in order)
            {
                if (j == i || suppressed[j] || (classes is not null && classes[i] != classes[j]))
                {
                    continue;
                }
                if (IoU(c, i, j) > threshold)
                {
                    suppressed[j] = true;
                }
            }
        }
        return keep.ToArray();
    }

    private static double IoU(double[] c, int i, int j)
    {
        var iw = Math.Max(0, Math.Min(c[i * 4 + 2], c[j * 4 + 2]) - Math.Max(c[i * 4], c[j * 4]));
        var ih = Math.Max(0, Math.Min(c[i * 4 + 3], c[j * 4 + 3]) - Math.Max(c[i * 4 + 1], c[j * 4 + 1]));
        var inter = iw * ih;
        var union = (c[i * 4 + 2] - c[i * 4]) * (c[i * 4 + 3] - c[i * 4 + 1]) + (c[j * 4 + 2] - c[j * 4]) * (c[j * 4 + 3] - c[j * 4 + 1]) - inter;
        // inter and union are small integers here, exact in float32; the quotient is rounded to float32.
        return union > 0 ? (double)((float)inter / (float)union) : 0;
    }
}
