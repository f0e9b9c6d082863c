using HpfDet.Assigners;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Assigners;

/// <summary>torchvision's Matcher semantics, every expected match worked out by hand.</summary>
public class MaxIoUAssignerTests
{
    static Tensor Boxes(params float[] xyxy) => torch.tensor(xyxy).reshape(-1, 4);

    static long[] Assign(MaxIoUAssignerOptions options, Tensor priors, Tensor gt) =>
        new MaxIoUAssigner(options).Assign(priors, gt).data<long>().ToArray();

    [Fact]
    public void ThresholdsSplitPositivesIgnoredAndBackground()
    {
        using var scope = torch.NewDisposeScope();
        var gt = Boxes(0, 0, 10, 10);                      // area 100
        var priors = Boxes(
            0, 0, 10, 10,                                   // IoU 1                     → positive (0)
            0, 0, 20, 10,                                   // 100 / 200 = 0.5           → positive: ≥ 0.5
            5, 0, 15, 10,                                   // 50 / 150 = 0.333          → background: < 0.4
            0, 0, 10, 22,                                   // 100 / 220 = 0.4545        → ignored: in [0.4, 0.5)
            20, 0, 30, 10);                                 // 0                         → background
        long[] expected = [0, 0, MaxIoUAssigner.Background, MaxIoUAssigner.Ignored, MaxIoUAssigner.Background];
        // The gt's best IoU (1) is reached by prior 0 only, already positive: low-quality matching changes nothing.
        Assert.Equal(expected, Assign(new(AllowLowQualityMatches: false), priors, gt));
        Assert.Equal(expected, Assign(new(), priors, gt));
    }

    [Fact]
    public void LowQualityMatchesGiveEveryPriorThatReachesAGroundTruthsBestIoUItsOwnBestGroundTruth()
    {
        using var scope = torch.NewDisposeScope();
        var gt = Boxes(0, 0, 10, 10);
        var priors = Boxes(
            0, 0, 20, 20,                                   // 100 / 400 = 0.25: the gt's best
            5, 5, 25, 25,                                   // 25 / (100 + 400 - 25) = 0.0526
            100, 100, 110, 110,                             // 0
            -10, -10, 10, 10);                              // 100 / 400 = 0.25: ties the best → also matched
        Assert.Equal([-1L, -1, -1, -1], Assign(new(AllowLowQualityMatches: false), priors, gt));
        Assert.Equal([0L, -1, -1, 0], Assign(new(), priors, gt));

        // gt0 [0,0,4,4] (area 16), gt1 [0,0,12,12] (area 144); prior [0,0,8,8] (area 64): IoU 16/64 = 0.25 with gt0,
        // 64/144 = 0.444 with gt1 → best gt1, between the thresholds → ignored. It is gt0's best prior, so with
        // low-quality matches it becomes positive, matched to its own best gt: gt1 (index 1), not gt0.
        var gt2 = Boxes(0, 0, 4, 4, 0, 0, 12, 12);
        var priors2 = Boxes(0, 0, 8, 8, 20, 20, 30, 30);
        Assert.Equal([MaxIoUAssigner.Ignored, MaxIoUAssigner.Background], Assign(new(AllowLowQualityMatches: false), priors2, gt2));
        Assert.Equal([1L, MaxIoUAssigner.Background], Assign(new(), priors2, gt2));
    }

    [Fact]
    public void AGroundTruthNoPriorOverlapsMatchesEveryPriorOfZeroIoUAsTorchvisionDoes()
    {
        using var scope = torch.NewDisposeScope();
        // gt1 overlaps no prior: its best IoU is 0, reached by both priors, so both take their own best gt:
        // prior 0 → gt0 (IoU 1), prior 1 → IoUs (0, 0), the first index → gt0.
        var gt = Boxes(0, 0, 10, 10, 100, 100, 110, 110);
        var priors = Boxes(0, 0, 10, 10, 50, 50, 60, 60);
        Assert.Equal([0L, MaxIoUAssigner.Background], Assign(new(AllowLowQualityMatches: false), priors, gt));
        Assert.Equal([0L, 0], Assign(new(), priors, gt));
    }

    [Fact]
    public void NoGroundTruthMakesEveryPriorBackground()
    {
        using var scope = torch.NewDisposeScope();
        var priors = Boxes(0, 0, 10, 10, 50, 50, 60, 60);
        Assert.Equal([-1L, -1], Assign(new(), priors, torch.zeros(0, 4)));
    }

    [Fact]
    public void ThresholdsInTheWrongOrderAreAClearError()
    {
        var e = Assert.Throws<HpfDetException>(() => new MaxIoUAssigner(new MaxIoUAssignerOptions(PositiveIoU: 0.3, NegativeIoU: 0.4)));
        Assert.Contains("NegativeIoU", e.Message);
    }
}
