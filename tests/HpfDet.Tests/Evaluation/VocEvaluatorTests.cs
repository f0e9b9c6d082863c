using HpfDet.Evaluation;

namespace HpfDet.Tests.Evaluation;

public class VocEvaluatorTests
{
    // Class 1, image 1: A [0,0,10,10], B [20,0,10,10], C [40,0,10,10] crowd (difficult).
    //          image 2: D [0,0,10,10], E [50,50,10,10] "difficult": 1.   Non-difficult positives: A, B, D = 3.
    // Class 2: one box, no detection.  Class 3: no box, one detection (AP undefined, not averaged).
    const string Gt = """
    {"images": [{"id": 1}, {"id": 2}],
     "categories": [{"id": 1, "name": "one"}, {"id": 2, "name": "two"}, {"id": 3, "name": "three"}],
     "annotations": [
       {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0},
       {"id": 2, "image_id": 1, "category_id": 1, "bbox": [20, 0, 10, 10], "area": 100, "iscrowd": 0},
       {"id": 3, "image_id": 1, "category_id": 1, "bbox": [40, 0, 10, 10], "area": 100, "iscrowd": 1},
       {"id": 4, "image_id": 2, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0},
       {"id": 5, "image_id": 2, "category_id": 1, "bbox": [50, 50, 10, 10], "area": 100, "iscrowd": 0, "difficult": 1},
       {"id": 6, "image_id": 2, "category_id": 2, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0}
     ]}
    """;

    // In score order: 0.9 on A -> TP; 0.8 on C (crowd) -> ignored; 0.7 on A again -> FP; 0.6 on D -> TP;
    // 0.55 on E (difficult) -> ignored; 0.5 nowhere -> FP.
    const string Dt = """
    [
      {"image_id": 2, "category_id": 1, "bbox": [100, 100, 10, 10], "score": 0.5},
      {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9},
      {"image_id": 1, "category_id": 1, "bbox": [40, 0, 10, 10], "score": 0.8},
      {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.7},
      {"image_id": 2, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.6},
      {"image_id": 2, "category_id": 1, "bbox": [50, 50, 10, 10], "score": 0.55},
      {"image_id": 1, "category_id": 3, "bbox": [0, 0, 10, 10], "score": 0.9}
    ]
    """;

    [Fact]
    public void MatchesHandCalculation()
    {
        var result = VocEvaluator.Evaluate(CocoGroundTruth.Parse(Gt), CocoDetections.Parse(Dt));
        // Counted detections: TP, FP, TP, FP -> recall 1/3, 1/3, 2/3, 2/3; precision 1, 1/2, 2/3, 1/2.
        // Envelope at the recall steps: 1 for (0, 1/3], 2/3 for (1/3, 2/3], 0 beyond.
        // AP = 1/3 * 1 + 1/3 * 2/3 = 5/9.
        Assert.Equal(3, result.PerClass[0].NumPositives);
        Assert.Equal(5.0 / 9.0, result.PerClass[0].Ap, 1e-15);
        Assert.Equal(0.0, result.PerClass[1].Ap);
        Assert.True(double.IsNaN(result.PerClass[2].Ap));
        Assert.Equal((5.0 / 9.0 + 0.0) / 2, result.MeanAp, 1e-15);
    }

    [Fact]
    public void IouExactlyAtThresholdIsAMatch()
    {
        // 10x10 box against 10x20 detection: IoU = 100 / 200 = 0.5 exactly.
        var gt = new CocoGroundTruth([new CocoImage(1)], [new CocoCategory(1, "a")], [CocoAnnotation.FromBox(1, 1, 1, 0, 0, 10, 10)]);
        var ap = VocEvaluator.MeanAp50(gt, new CocoDetections([new CocoDetection(1, 1, 0, 0, 10, 20, 0.9)]));
        Assert.Equal(1.0, ap);
    }

    [Fact]
    public void AllPointsApOfPerfectRankingIsOne()
    {
        Assert.Equal(1.0, VocEvaluator.AllPointsAp([1, 1, 0], [0, 0, 1], 2));
        // Half the positives found at precision 1/2: AP = 1/2 * 1/2.
        Assert.Equal(0.25, VocEvaluator.AllPointsAp([0, 1], [1, 0], 2));
    }
}

public class DifficultBoxesReachEvaluationTests
{
    [Fact]
    public void AVocDifficultBoxIsNeitherAHitNorAMissInTheVocMetric()
    {
        // One image, one class: a normal box [10,10,50,50] and a difficult box [60,60,90,90]. One detection
        // on the normal box only. By hand: recall 1/1 (the difficult box is not a positive), precision 1 → AP 1.
        // Were the difficult box a normal one, recall would stop at 1/2 and AP would be 0.5.
        var sample = new HpfDet.Data.DetectionSample(1, "/x/a.png", "a.png", 100, 100,
            [new HpfDet.Data.BoxAnnotation(10, 10, 50, 50, 0), new HpfDet.Data.BoxAnnotation(60, 60, 90, 90, 0, Difficult: true)]);
        var dataset = new HpfDet.Data.DetectionDataset("t", ["cell"], [sample], new HpfDet.Data.DataIssues());
        var gt = HpfDet.Training.DetectionEvaluation.GroundTruthOf(dataset);
        Assert.Contains(gt.Annotations, a => a.Difficult);
        var detections = new HpfDet.Evaluation.CocoDetections([new HpfDet.Evaluation.CocoDetection(1, dataset.CategoryIdOf(0), 10, 10, 40, 40, 0.9)]);
        Assert.Equal(1.0, HpfDet.Evaluation.VocEvaluator.Evaluate(gt, detections).MeanAp, 12);
    }
}
