using HpfDet.Boxes;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Boxes;

public class ScoreVotingTests
{
    static Tensor Boxes(params float[] v) => torch.tensor(v).reshape(-1, 4);

    [Fact]
    public void AKeptBoxIsTheScoreAndIoUWeightedMeanOfItsClassCandidates()
    {
        using var scope = torch.NewDisposeScope();
        // Kept: A = [0, 0, 10, 10], class 0. Candidates:
        //   A itself, score 0.9: IoU 1, weight e^0 · 0.9 = 0.9;
        //   B = [0, 0, 10, 12], class 0, score 0.6: IoU 100/120 = 5/6, weight e^(-(1/6)²/0.025) · 0.6 = e^(-10/9) · 0.6;
        //   C = A's box in class 1: another class, no vote;
        //   D = [20, 20, 30, 30], class 0: IoU 0, no vote;
        //   E = [9.9, 0, 19.9, 10], class 0, score 1: IoU 1/199 ≈ 0.005 ≤ 0.01, no vote.
        // Voted: x1 = y1 = 0, x2 = 10, y2 = (0.9·10 + w_B·12) / (0.9 + w_B).
        var kept = Boxes(0, 0, 10, 10);
        var candidates = Boxes(0, 0, 10, 10, 0, 0, 10, 12, 0, 0, 10, 10, 20, 20, 30, 30, 9.9f, 0, 19.9f, 10);
        var scores = torch.tensor(new float[] { 0.9f, 0.6f, 0.95f, 0.8f, 1.0f });
        var labels = torch.tensor(new long[] { 0, 0, 1, 0, 0 });
        var voted = new ScoreVoting().Vote(kept, torch.tensor(new long[] { 0 }), candidates, scores, labels).data<float>().ToArray();
        double wB = Math.Exp(-(1.0 / 36) / 0.025) * 0.6;
        double y2 = (0.9 * 10 + wB * 12) / (0.9 + wB);
        Assert.Equal(0f, voted[0], 5);
        Assert.Equal(0f, voted[1], 5);
        Assert.Equal(10f, voted[2], 4);
        Assert.Equal((float)y2, voted[3], 4);
        Assert.InRange(y2, 10.35, 10.37);   // 10 + 2·0.1975/1.0975 ≈ 10.360
    }

    [Fact]
    public void EachKeptBoxVotesWithinItsOwnClass()
    {
        using var scope = torch.NewDisposeScope();
        // Two kept boxes at the same place in classes 0 and 1; class 1 has a shifted candidate
        // [2, 0, 12, 10] (IoU 80/120 = 2/3, weight e^(-(1/3)²/0.025)·s) that moves only class 1's box.
        var kept = Boxes(0, 0, 10, 10, 0, 0, 10, 10);
        var candidates = Boxes(0, 0, 10, 10, 0, 0, 10, 10, 2, 0, 12, 10);
        var scores = torch.tensor(new float[] { 0.8f, 0.7f, 0.5f });
        var labels = torch.tensor(new long[] { 0, 1, 1 });
        var voted = new ScoreVoting().Vote(kept, torch.tensor(new long[] { 0, 1 }), candidates, scores, labels).data<float>().ToArray();
        Assert.Equal(new float[] { 0, 0, 10, 10 }, voted[..4]);
        double w = Math.Exp(-(1.0 / 9) / 0.025) * 0.5;
        Assert.Equal((float)(w * 2 / (0.7 + w)), voted[4], 4);
        Assert.Equal((float)((0.7 * 10 + w * 12) / (0.7 + w)), voted[6], 4);
    }

    [Fact]
    public void NoDetectionsStayNone()
    {
        using var scope = torch.NewDisposeScope();
        var voted = new ScoreVoting().Vote(torch.zeros(0, 4), torch.zeros(0, dtype: ScalarType.Int64), Boxes(0, 0, 1, 1), torch.ones(1), torch.zeros(1, dtype: ScalarType.Int64));
        Assert.Equal([0L, 4], voted.shape);
    }
}
