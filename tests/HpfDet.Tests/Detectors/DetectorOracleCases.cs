using System.Text.Json;
using HpfDet.Models;
using HpfDet.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Detectors;

/// <summary>
/// One end-to-end reference case of a dense detector after the neck (oracle detectors/*.json: torchvision
/// 0.14.1 RetinaNet or FCOS in float64 with fixed FPN features and head weights). See the oracle README.
/// </summary>
public sealed class DetectorOracleCase
{
    readonly JsonElement root;

    DetectorOracleCase(string fileName, JsonElement root)
    {
        FileName = fileName;
        this.root = root;
    }

    public string FileName { get; }
    public string Name => root.GetProperty("case").GetString()!;
    public int NumClasses => root.GetProperty("num_classes").GetInt32();
    public int Channels => root.GetProperty("channels").GetInt32();
    public (int H, int W) ImageSize => (root.GetProperty("image_size")[0].GetInt32(), root.GetProperty("image_size")[1].GetInt32());
    public int BatchSize => root.GetProperty("targets").GetArrayLength();

    /// <summary>P3–P7, each [B, C, H, W].</summary>
    public Tensor[] Features(ScalarType dtype) => root.GetProperty("features").EnumerateArray().Select(f => ToTensor(f, dtype)).ToArray();

    /// <summary>The head's weights under torchvision state-dict names.</summary>
    public Dictionary<string, Tensor> HeadState(ScalarType dtype) =>
        root.GetProperty("head_state").EnumerateObject().ToDictionary(p => p.Name, p => ToTensor(p.Value, dtype));

    /// <summary>Per image the ground truth (labels 0..C-1).</summary>
    public DetectionTarget[] Targets(ScalarType dtype) => root.GetProperty("targets").EnumerateArray().Select(t =>
    {
        var boxes = Flat(t.GetProperty("boxes"));
        var labels = Flat(t.GetProperty("labels")).Select(v => (long)v).ToArray();
        return new DetectionTarget(torch.tensor(boxes, dtype: float64).reshape(-1, 4).to(dtype), torch.tensor(labels, dtype: int64));
    }).ToArray();

    /// <summary>The expected head output of that name ("cls_logits", "bbox_regression", "bbox_ctrness"), [B, Σ HWA, K], float64; null if absent.</summary>
    public Tensor? ExpectedHead(string name) =>
        root.GetProperty("expected_head").TryGetProperty(name, out var e) ? ToTensor(e, float64) : null;

    /// <summary>torchvision's training losses by name ("classification", "bbox_regression", "bbox_ctrness").</summary>
    public IReadOnlyDictionary<string, double> ExpectedLosses =>
        root.GetProperty("expected_losses").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetDouble());

    /// <summary>Per image the expected detections: boxes [K, 4], scores [K], labels [K].</summary>
    public (double[,] Boxes, double[] Scores, long[] Labels)[] ExpectedDetections => root.GetProperty("expected_detections").EnumerateArray().Select(d =>
    {
        var scores = Flat(d.GetProperty("scores"));
        var flatBoxes = Flat(d.GetProperty("boxes"));
        var boxes = new double[scores.Length, 4];
        for (int i = 0; i < scores.Length; i++) for (int k = 0; k < 4; k++) boxes[i, k] = flatBoxes[4 * i + k];
        return (boxes, scores, Flat(d.GetProperty("labels")).Select(v => (long)v).ToArray());
    }).ToArray();

    public string Semantics => root.GetProperty("semantics").GetString()!;

    /// <summary>
    /// Compares detections with the expected ones: asserts the same count and labels per image, and
    /// returns the largest absolute box and score differences.
    /// </summary>
    public (double BoxError, double ScoreError) DetectionErrors(IReadOnlyList<Detections> detections)
    {
        var expected = ExpectedDetections;
        Assert.Equal(expected.Length, detections.Count);
        double boxError = 0, scoreError = 0;
        for (int b = 0; b < expected.Length; b++)
        {
            var (boxes, scores, labels) = expected[b];
            var d = detections[b];
            Assert.Equal(scores.Length, (int)d.Scores.shape[0]);
            Assert.Equal(labels, d.Labels.data<long>().ToArray());
            var actualScores = d.Scores.to(float64).data<double>().ToArray();
            var actualBoxes = d.Boxes.to(float64).data<double>().ToArray();
            for (int i = 0; i < scores.Length; i++)
            {
                scoreError = Math.Max(scoreError, Math.Abs(actualScores[i] - scores[i]));
                for (int k = 0; k < 4; k++) boxError = Math.Max(boxError, Math.Abs(actualBoxes[4 * i + k] - boxes[i, k]));
            }
        }
        return (boxError, scoreError);
    }

    /// <summary>
    /// The box error to compare with the tolerance of <paramref name="dtype"/>: absolute in float64, as the oracle
    /// gives it; in float32 relative to the image's longer side. A decoded coordinate is the prior's centre plus
    /// the prior's size times the predicted delta (or its exp), so float32 rounding of the head's outputs moves it
    /// in proportion to the prior, which can be larger than the image (a box mostly outside it is clipped to a
    /// sliver whose own size says nothing): at a head error of 2e-6 a coordinate moves by about 2e-4 px, below
    /// 1e-4 of a 128-px image, while a half-pixel convention or a wrong box-coder weight moves it by far more.
    /// </summary>
    public double ComparableBoxError(double boxError, ScalarType dtype) =>
        dtype == float64 ? boxError : boxError / Math.Max(ImageSize.H, ImageSize.W);

    public override string ToString() => FileName;

    static Tensor ToTensor(JsonElement e, ScalarType dtype)
    {
        var shape = e.GetProperty("shape").EnumerateArray().Select(v => v.GetInt64()).ToArray();
        return torch.tensor(Flat(e.GetProperty("data")), dtype: float64).reshape(shape).to(dtype);
    }

    static double[] Flat(JsonElement e)
    {
        var list = new List<double>();
        void Walk(JsonElement x)
        {
            if (x.ValueKind == JsonValueKind.Array) foreach (var c in x.EnumerateArray()) Walk(c);
            else list.Add(x.GetDouble());
        }
        Walk(e);
        return list.ToArray();
    }

    public static string Folder => Path.Combine(TestPaths.OracleDir, "detectors");

    /// <summary>The reference detector a case file describes ("retinanet", "fcos"), from its "reference" text.</summary>
    public static string DetectorOf(string file)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(file));
        var reference = doc.RootElement.GetProperty("reference").GetString() ?? "";
        return reference.Contains("RetinaNet", StringComparison.OrdinalIgnoreCase) ? "retinanet"
            : reference.Contains("FCOS", StringComparison.OrdinalIgnoreCase) ? "fcos"
            : "unknown: " + reference;
    }

    /// <summary>File names of every case of one reference detector ("retinanet", "fcos"), for theories.</summary>
    public static TheoryData<string> Of(string detector)
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.GetFiles(Folder, "*.json").OrderBy(f => f, StringComparer.Ordinal))
            if (DetectorOf(file) == detector) data.Add(Path.GetFileName(file));
        return data;
    }

    public static DetectorOracleCase Load(string fileName)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, fileName)));
        return new DetectorOracleCase(fileName, doc.RootElement.Clone());
    }
}

public class DetectorOracleFolderTests
{
    [Fact]
    public void EveryCaseInTheFolderIsOfADetectorTheTestsCover()
    {
        var files = Directory.GetFiles(DetectorOracleCase.Folder, "*.json");
        Assert.NotEmpty(files);
        foreach (var file in files)
            Assert.Contains(DetectorOracleCase.DetectorOf(file), new[] { "retinanet", "fcos" });
    }
}
