using BenchmarkDotNet.Attributes;
using HpfDet.Assigners;
using HpfDet.Boxes;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Benchmarks;

/// <summary>
/// NMS on N random boxes (post top-k sizes) and ATSS on the anchors of an 800x1344 image (5 levels, 22k anchors,
/// 20 gts; independent of N). One libtorch thread.
/// Run: dotnet run -c Release --project bench/HpfDet.Benchmarks -- --filter '*BoxesBenchmarks*' --inProcess --warmupCount 2 --iterationCount 5
/// </summary>
[MemoryDiagnoser]
public class BoxesBenchmarks
{
    private Tensor _boxes = null!;
    private Tensor _scores = null!;
    private Tensor _classes = null!;
    private List<Tensor> _anchors = null!;
    private Tensor _gtBoxes = null!;
    private Tensor _gtLabels = null!;
    private readonly AtssAssigner _assigner = new();

    [Params(1000, 5000)]
    public int N { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(1);
        manual_seed(0);
        // Boxes spread over an 800x1333 image, sides 10..210: realistic overlap density.
        using var one = 1.ToScalar();
        using var maxSide = 200.ToScalar();
        using var minSide = 10.ToScalar();
        using var minGtSide = 16.ToScalar();
        var xy = rand(N, 2) * tensor(new float[] { 1333, 800 });
        var wh = rand(N, 2).mul(maxSide).add(minSide, one);
        _boxes = cat(new[] { xy, xy.add(wh, one) }, 1);
        _scores = rand(N);
        _classes = randint(0, 80, N);
        var sizes = new List<(int H, int W)> { (100, 168), (50, 84), (25, 42), (13, 21), (7, 11) };
        _anchors = new AnchorGenerator().GridAnchors(sizes, CPU).ToList();
        var gxy = rand(20, 2) * tensor(new float[] { 1100, 600 });
        _gtBoxes = cat(new[] { gxy, gxy.add(rand(20, 2).mul(maxSide).add(minGtSide, one), one) }, 1);
        _gtLabels = randint(0, 80, 20);
    }

    [Benchmark]
    public long Nms()
    {
        using var keep = HpfDet.Boxes.Nms.Apply(_boxes, _scores, 0.6);
        return keep.shape[0];
    }

    /// <summary>The bit-matrix path used for tensors on an accelerator, timed here on the CPU.</summary>
    [Benchmark]
    public long NmsBitMatrix()
    {
        using var keep = HpfDet.Boxes.Nms.Suppress(_boxes, _scores, null, 0.6, onHost: false);
        return keep.shape[0];
    }

    [Benchmark]
    public long BatchedNms()
    {
        using var keep = HpfDet.Boxes.Nms.BatchedNms(_boxes, _scores, _classes, 0.6);
        return keep.shape[0];
    }

    [Benchmark]
    public long AtssAssign20Gts()
    {
        using var result = _assigner.Assign(_anchors, _gtBoxes, _gtLabels, 80);
        return result.AssignedGtIndex.shape[0];
    }
}
