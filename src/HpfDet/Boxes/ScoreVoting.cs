using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Boxes;

/// <summary>
/// Score voting (PAA, Kim &amp; Lee 2020; mmdetection 2.x's PAAHead.score_voting): each detection kept by
/// NMS is replaced by the weighted mean of the candidate boxes of its class that overlap it with IoU
/// above <paramref name="MinIoU"/>, weight exp(-(1 - IoU)² / σ) · candidate score; its score and label stay.
/// The detection itself is one of the candidates (IoU 1, weight = its score).
/// </summary>
/// <param name="Sigma">σ of the IoU weight (0.025).</param>
/// <param name="MinIoU">Candidates need an IoU above this with the detection (0.01).</param>
public sealed record ScoreVoting(double Sigma = 0.025, double MinIoU = 0.01)
{
    /// <summary>The voted boxes of the detections.</summary>
    /// <param name="boxes">[K, 4] detections after NMS.</param>
    /// <param name="labels">[K] their classes.</param>
    /// <param name="candidateBoxes">[M, 4] the candidates NMS chose from.</param>
    /// <param name="candidateScores">[M] their scores.</param>
    /// <param name="candidateLabels">[M] their classes.</param>
    /// <returns>[K, 4]; a detection without any weighted candidate keeps its box.</returns>
    public Tensor Vote(Tensor boxes, Tensor labels, Tensor candidateBoxes, Tensor candidateScores, Tensor candidateLabels)
    {
        using var scope = NewDisposeScope();
        if (boxes.shape[0] == 0 || candidateBoxes.shape[0] == 0) return boxes.clone().MoveToOuterDisposeScope();
        using var minIoU = MinIoU.ToScalar();
        using var tiny = 1e-12.ToScalar();
        using var minusInverseSigma = (-1.0 / Sigma).ToScalar();
        var iou = BoxOps.PairwiseIoU(boxes, candidateBoxes.to(boxes.dtype));                        // [K, M]
        var votes = labels.unsqueeze(1).eq(candidateLabels.unsqueeze(0)).logical_and_(iou.gt(minIoU));
        var weights = iou.neg().add_(ScalarConstants.One, ScalarConstants.One).pow_(ScalarConstants.Two).mul_(minusInverseSigma).exp_()
            .mul_(candidateScores.to(boxes.dtype).unsqueeze(0))
            .masked_fill_(votes.logical_not_(), ScalarConstants.ZeroDouble);
        var total = weights.sum(1, keepdim: true);                                                     // [K, 1]
        var voted = weights.matmul(candidateBoxes.to(boxes.dtype)).div_(total.clamp_min(tiny));
        return torch.where(total.gt(ScalarConstants.ZeroDouble), voted, boxes).MoveToOuterDisposeScope();
    }
}
