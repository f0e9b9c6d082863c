namespace HpfDet.Evaluation;

/// <summary>The 12 COCO summary numbers of one category (same order as <see cref="CocoEvalResult.Stats"/>).</summary>
public sealed record CategoryStats(int CategoryId, string Name, double[] Stats)
{
    public double AP => Stats[0];
    public double AP50 => Stats[1];
    public double AP75 => Stats[2];
    public double AR100 => Stats[8];
}

/// <summary>
/// What the evaluation read, dropped and defaulted. <see cref="Warnings"/> says it in words for a
/// front end to print; the library itself never prints.
/// </summary>
public sealed record CocoInputReport(
    int Images, int Categories, int GroundTruthBoxes, int Detections,
    int DetectionsUnknownCategory, int DetectionsEvaluated, GroundTruthReport GroundTruth, IReadOnlyList<string> Warnings);

/// <summary>
/// Result of <see cref="CocoEvaluator.Evaluate"/>, laid out as pycocotools' COCOeval.eval.
/// Undefined entries (no non-ignored ground truth) are -1.
/// </summary>
public sealed class CocoEvalResult
{
    /// <summary>Names of the 12 summary numbers.</summary>
    public static readonly IReadOnlyList<string> StatNames = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"];
    /// <summary>Area range labels, the A axis.</summary>
    public static readonly IReadOnlyList<string> AreaLabels = ["all", "small", "medium", "large"];

    /// <summary>[12] AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl.</summary>
    public required double[] Stats { get; init; }
    /// <summary>The same 12 numbers per category, in ascending category id order.</summary>
    public required IReadOnlyList<CategoryStats> PerCategory { get; init; }
    /// <summary>[T, R, K, A, M] interpolated precision at each recall threshold.</summary>
    public required double[,,,,] Precision { get; init; }
    /// <summary>[T, K, A, M] final recall.</summary>
    public required double[,,,] Recall { get; init; }
    /// <summary>[K, A] ground truths that are neither crowd nor out of the area range.</summary>
    public required int[,] NumNonIgnoredGt { get; init; }
    /// <summary>[T] np.linspace(0.5, 0.95, 10).</summary>
    public required double[] IouThresholds { get; init; }
    /// <summary>[R] np.linspace(0, 1, 101).</summary>
    public required double[] RecallThresholds { get; init; }
    /// <summary>[K] ascending category ids.</summary>
    public required int[] CategoryIds { get; init; }
    /// <summary>[K] category names.</summary>
    public required string[] CategoryNames { get; init; }
    /// <summary>[A, 2] closed area ranges [lo, hi].</summary>
    public required double[,] AreaRanges { get; init; }
    /// <summary>[M] ascending maxDets.</summary>
    public required int[] MaxDets { get; init; }
    public required CocoInputReport Input { get; init; }

    /// <summary>Precision averaged over the recall thresholds for one (t, k, a, m): -1 when undefined.</summary>
    public double MeanPrecision(int t, int k, int a, int m)
    {
        var r = RecallThresholds.Length;
        var v = new double[r];
        for (var i = 0; i < r; i++) v[i] = Precision[t, i, k, a, m];
        return PyNumerics.PairwiseSum(v) / r;
    }
}
