using System.Globalization;
using System.Text.Json;

namespace HpfDet.Inference;

/// <summary>An exported model that cannot be used: corrupt file, no HpfDet metadata, unknown detector, undecodable image.</summary>
public sealed class OnnxDetectorException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>How a model's score factors (output "score_factors") combine with its class scores (metadata "hpfdet.score_factor").</summary>
public enum ScoreFactorUse
{
    /// <summary>"none": the model has no score factor; candidates are selected by class score, which is the detection score (RetinaNet).</summary>
    None,
    /// <summary>"multiply": candidates are selected (threshold, per-level top-k) by class score; the detection score is class score × factor (ATSS centerness).</summary>
    Multiply,
    /// <summary>"geometric_mean": the candidate score is sqrt(class score × factor); it selects the candidates and is the detection score (FCOS centerness).</summary>
    GeometricMean,
}

/// <summary>
/// The HpfDet metadata of an exported model (ONNX metadata_props, keys "hpfdet.*", written by
/// 'hpfdet export'): what the model detects and how images go in and detections come out.
/// </summary>
public sealed record OnnxModelInfo(
    string Detector,
    string HpfDetVersion,
    IReadOnlyList<string> ClassNames,
    (int H, int W)? FixedInputSize,
    int ResizeShortSide,
    int ResizeMaxLongSide,
    int SizeDivisor,
    float[] PadValueRgb,
    double ScoreThreshold,
    int PreNmsTopK,
    double NmsIoU,
    int MaxDetections,
    int[] Strides,
    int AnchorsPerLocation,
    string? RunConfigJson,
    ScoreFactorUse ScoreFactor = ScoreFactorUse.Multiply)
{
    /// <summary>The metadata format this library reads.</summary>
    public const string FormatVersion = "1";

    /// <summary>The detectors whose outputs this library decodes (dense: boxes, class scores, optional score factor).</summary>
    public static IReadOnlySet<string> KnownDetectors { get; } = new HashSet<string>(StringComparer.Ordinal) { "atss", "retinanet", "fcos" };

    /// <summary>Reads the metadata; a missing or malformed key is an <see cref="OnnxDetectorException"/> naming the file and key.</summary>
    public static OnnxModelInfo Parse(IReadOnlyDictionary<string, string> meta, string path)
    {
        if (!meta.TryGetValue("hpfdet.format", out var format))
            throw new OnnxDetectorException($"'{path}' is an ONNX model without HpfDet metadata (no 'hpfdet.format' entry): export the detector with 'hpfdet export'.");
        if (format != FormatVersion)
            throw new OnnxDetectorException($"'{path}' has HpfDet metadata format {format}; this HpfDet.Inference reads format {FormatVersion}: use a matching HpfDet.Inference version.");
        string Get(string key) => meta.TryGetValue("hpfdet." + key, out var v) ? v
            : throw new OnnxDetectorException($"'{path}': HpfDet metadata entry 'hpfdet.{key}' is missing: re-export the model with 'hpfdet export'.");
        T Parsed<T>(string key, Func<string, T> parse)
        {
            var text = Get(key);
            try { return parse(text); }
            catch (Exception e) when (e is FormatException or OverflowException or JsonException or IndexOutOfRangeException)
            {
                throw new OnnxDetectorException($"'{path}': HpfDet metadata entry 'hpfdet.{key}' = '{text}' is malformed: re-export the model with 'hpfdet export'.", e);
            }
        }
        static double D(string s) => double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture);
        static int I(string s) => int.Parse(s, NumberStyles.Integer, CultureInfo.InvariantCulture);

        var detector = Get("detector");
        if (!KnownDetectors.Contains(detector))
            throw new OnnxDetectorException($"'{path}' holds a '{detector}' detector, which this HpfDet.Inference cannot decode (known: {string.Join(", ", KnownDetectors)}): use a newer HpfDet.Inference.");
        var classes = Parsed("class_names", s => JsonSerializer.Deserialize<string[]>(s) ?? throw new FormatException());
        var size = Parsed<(int, int)?>("input_size", s => s == "dynamic" ? null : (I(s.Split('x')[0]), I(s.Split('x')[1])));
        var resize = Parsed("resize", s => s.Split(',').Select(I).ToArray());
        var pad = Parsed("pad_value", s => s.Split(',').Select(v => (float)D(v)).ToArray());
        var strides = Parsed("strides", s => s.Split(',').Select(I).ToArray());
        if (resize.Length != 2 || pad.Length != 3 || strides.Length == 0 || classes.Length == 0)
            throw new OnnxDetectorException($"'{path}': HpfDet metadata (resize, pad_value, strides, class_names) is malformed: re-export the model with 'hpfdet export'.");
        // Models written before the entry existed are ATSS models, whose factor multiplies the selected scores.
        var factor = meta.GetValueOrDefault("hpfdet.score_factor", "multiply") switch
        {
            "none" => ScoreFactorUse.None,
            "multiply" => ScoreFactorUse.Multiply,
            "geometric_mean" => ScoreFactorUse.GeometricMean,
            var other => throw new OnnxDetectorException($"'{path}': HpfDet metadata entry 'hpfdet.score_factor' = '{other}' is not one this HpfDet.Inference knows (none, multiply, geometric_mean): use a newer HpfDet.Inference."),
        };
        return new OnnxModelInfo(detector, Get("version"), classes, size, resize[0], resize[1], Parsed("size_divisor", I), pad,
            Parsed("score_threshold", D), Parsed("pre_nms_top_k", I), Parsed("nms_iou", D), Parsed("max_detections", I),
            strides, Parsed("anchors_per_location", I), meta.GetValueOrDefault("hpfdet.run_config"), factor);
    }
}
