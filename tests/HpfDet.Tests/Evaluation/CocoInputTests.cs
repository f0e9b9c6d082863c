using HpfDet.Evaluation;
using HpfDet.Tests.Infrastructure;

namespace HpfDet.Tests.Evaluation;

/// <summary>Input handling: errors, drops with counts, defaults with warnings, in-memory use, id 0.</summary>
public class CocoInputTests
{
    const string Gt = """
    {"images": [{"id": 1}, {"id": 2}],
     "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
     "annotations": [
       {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 20, 20], "area": 400, "iscrowd": 0},
       {"id": 2, "image_id": 2, "category_id": 2, "bbox": [10, 10, 100, 100], "area": 10000, "iscrowd": 0}
     ]}
    """;

    static string OracleCase(string name) => Path.Combine(TestPaths.OracleDir, "coco", name);

    [Fact]
    public void UnknownImageIdIsAnErrorThatListsIt()
    {
        var gt = CocoGroundTruth.Parse(Gt);
        var dts = CocoDetections.Parse("""[{"image_id": 1, "category_id": 1, "bbox": [0,0,20,20], "score": 0.9}, {"image_id": 777, "category_id": 1, "bbox": [0,0,5,5], "score": 0.5}]""");
        var e = Assert.Throws<HpfDetException>(() => CocoEvaluator.Evaluate(gt, dts));
        Assert.Contains("777", e.Message);
        Assert.Throws<HpfDetException>(() => VocEvaluator.Evaluate(gt, dts));
    }

    [Fact]
    public void UnknownCategoryIsDroppedAndCounted()
    {
        var gt = CocoGroundTruth.Parse(Gt);
        var good = """{"image_id": 1, "category_id": 1, "bbox": [0,0,20,20], "score": 0.9}""";
        var withUnknown = CocoEvaluator.Evaluate(gt, CocoDetections.Parse($$"""[{{good}}, {"image_id": 1, "category_id": 99, "bbox": [0,0,20,20], "score": 0.95}]"""));
        var without = CocoEvaluator.Evaluate(gt, CocoDetections.Parse($"[{good}]"));
        Assert.Equal(1, withUnknown.Input.DetectionsUnknownCategory);
        Assert.Equal(1, withUnknown.Input.DetectionsEvaluated);
        Assert.Contains(withUnknown.Input.Warnings, w => w.Contains("category"));
        Assert.Equal(without.Stats, withUnknown.Stats);
    }

    [Fact]
    public void MissingIscrowdAndAreaGetDefaultsWithWarnings()
    {
        // The box is 20x40 = 800 px²: small by its default area; with "area": 5000 it would be medium.
        var gt = CocoGroundTruth.Parse("""
            {"images": [{"id": 1}], "categories": [{"id": 1, "name": "a"}],
             "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 20, 40]}]}
            """);
        Assert.Equal(1, gt.Report.DefaultedArea);
        Assert.Equal(1, gt.Report.DefaultedIsCrowd);
        Assert.Equal(2, gt.Report.Warnings.Count);
        Assert.Equal(800, gt.Annotations[0].Area);
        Assert.False(gt.Annotations[0].IsCrowd);
        var result = CocoEvaluator.Evaluate(gt, CocoDetections.Parse("[]"));
        Assert.Equal(1, result.NumNonIgnoredGt[0, 1]); // small
        Assert.Equal(0, result.NumNonIgnoredGt[0, 2]); // medium
        Assert.Equal(2, result.Input.Warnings.Count);
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(-0.1)]
    [InlineData(double.PositiveInfinity)]
    public void InvalidScoresAreErrors(double score)
    {
        var e = Assert.Throws<HpfDetException>(() => new CocoDetections([new CocoDetection(1, 1, 0, 0, 10, 10, 0.5), new CocoDetection(1, 1, 0, 0, 10, 10, score)]));
        Assert.Contains("[1]", e.Message);
    }

    [Fact]
    public void NegativeScoreInFileIsAnError()
    {
        var e = Assert.Throws<HpfDetException>(() => CocoDetections.Parse("""[{"image_id": 1, "category_id": 1, "bbox": [0,0,20,20], "score": -0.5}]"""));
        Assert.Contains("negative score", e.Message);
    }

    [Fact]
    public void NaNLiteralInFileIsAnErrorWithLine()
    {
        var e = Assert.Throws<HpfDetException>(() => CocoDetections.Parse("[\n{\"image_id\": 1, \"category_id\": 1,\n \"bbox\": [0,0,20,20], \"score\": NaN}]"));
        Assert.Contains("line 3", e.Message);
        Assert.Contains("NaN", e.Message);
    }

    [Fact]
    public void MissingFieldIsAnErrorNamingIt()
    {
        var e = Assert.Throws<HpfDetException>(() => CocoDetections.Parse("""[{"image_id": 1, "category_id": 1, "score": 0.5}]"""));
        Assert.Contains("'bbox'", e.Message);
    }

    [Fact]
    public void EmptyResultsGiveZerosNotACrash()
    {
        var result = CocoEvaluator.Evaluate(CocoGroundTruth.Parse(Gt), CocoDetections.Parse("[]"));
        // Both categories have ground truth in 'all': AP and AR are 0; area ranges without ground truth stay -1.
        Assert.Equal(0, result.Stats[0]);
        Assert.Equal(0, result.Stats[8]);
        Assert.Equal(0, result.Stats[3]);  // small: category a (400 px²)
        Assert.Equal(0, result.Stats[5]);  // large: category b (10000 px²)
        Assert.Equal(-1, result.PerCategory[0].Stats[5]); // a has no large ground truth
        Assert.Equal(0, VocEvaluator.MeanAp50(CocoGroundTruth.Parse(Gt), CocoDetections.Parse("[]")));
    }

    [Fact]
    public void InMemoryObjectsGiveTheSameResultAsFiles()
    {
        var dir = OracleCase("09_realistic");
        var gtFile = CocoGroundTruth.Load(Path.Combine(dir, "gt.json"));
        var dtFile = CocoDetections.Load(Path.Combine(dir, "dt.json"));
        var gt = new CocoGroundTruth(gtFile.Images.ToList(), gtFile.Categories.ToList(), gtFile.Annotations.ToList());
        var dts = new CocoDetections(Enumerable.Range(0, dtFile.Count).Select(i => dtFile[i]).ToList());
        var a = CocoEvaluator.Evaluate(gtFile, dtFile);
        var b = CocoEvaluator.Evaluate(gt, dts, new CocoEvalOptions(MaxDegreeOfParallelism: 1));
        Assert.Equal(a.Stats, b.Stats);
        Assert.Equal(a.Precision.Cast<double>(), b.Precision.Cast<double>());
    }

    [Theory]
    [InlineData("06_ties_duplicates")]
    [InlineData("09_realistic")]
    public void AnnotationIdZeroMatchesLikeAnyOtherId(string name)
    {
        // Renumbering annotations so that one gets id 0 must not change any number.
        var dir = OracleCase(name);
        var gt = CocoGroundTruth.Load(Path.Combine(dir, "gt.json"));
        var dts = CocoDetections.Load(Path.Combine(dir, "dt.json"));
        var minId = gt.Annotations.Min(a => a.Id);
        var shifted = new CocoGroundTruth(gt.Images, gt.Categories, gt.Annotations.Select(a => a with { Id = a.Id - minId }));
        Assert.Contains(shifted.Annotations, a => a.Id == 0);
        var a = CocoEvaluator.Evaluate(gt, dts);
        var b = CocoEvaluator.Evaluate(shifted, dts);
        Assert.Equal(a.Precision.Cast<double>(), b.Precision.Cast<double>());
        Assert.Equal(a.Recall.Cast<double>(), b.Recall.Cast<double>());
    }

    [Fact]
    public void SingleAnnotationWithIdZeroIsFound()
    {
        var gt = new CocoGroundTruth([new CocoImage(5)], [new CocoCategory(1, "a")], [CocoAnnotation.FromBox(0, 5, 1, 10, 10, 50, 50)]);
        var result = CocoEvaluator.Evaluate(gt, new CocoDetections([new CocoDetection(5, 1, 10, 10, 50, 50, 0.9)]));
        Assert.Equal(1.0, result.Stats[8]); // AR100: the one box is recalled at every threshold
        Assert.True(result.Stats[0] > 0.999);
    }

    [Fact]
    public void DuplicateAnnotationIdIsAnError()
    {
        var e = Assert.Throws<HpfDetException>(() => new CocoGroundTruth([new CocoImage(1)], [new CocoCategory(1, "a")],
            [CocoAnnotation.FromBox(3, 1, 1, 0, 0, 5, 5), CocoAnnotation.FromBox(3, 1, 1, 9, 9, 5, 5)]));
        Assert.Contains("id 3", e.Message);
    }

    [Fact]
    public void DetectionOrderAcrossCategoriesDoesNotMatter()
    {
        var dir = OracleCase("09_realistic");
        var gt = CocoGroundTruth.Load(Path.Combine(dir, "gt.json"));
        var dts = CocoDetections.Load(Path.Combine(dir, "dt.json"));
        // Stable reordering by category keeps the within-(image, category) order pycocotools depends on.
        var reordered = new CocoDetections(Enumerable.Range(0, dts.Count).Select(i => dts[i]).OrderByDescending(d => d.CategoryId).ToList());
        Assert.Equal(CocoEvaluator.Evaluate(gt, dts).Stats, CocoEvaluator.Evaluate(gt, reordered).Stats);
    }
}
