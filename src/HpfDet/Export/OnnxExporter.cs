using System.Globalization;
using System.Text.Json;
using Google.Protobuf;
using HpfDet.Data;
using HpfDet.Models;
using Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Export;

/// <summary>How to export.</summary>
/// <param name="Opset">Default-domain opset, 13 to 21 (the ONNX checker of onnx 1.12 knows up to 17).</param>
/// <param name="ImageSize">A fixed input (H, W): the priors become constants. Null: height and width are dynamic.</param>
public sealed record OnnxExportOptions(int Opset = OnnxExporter.DefaultOpset, (int H, int W)? ImageSize = null);

/// <summary>What an exported model needs besides its weights, stored as ONNX metadata for the inference library.</summary>
/// <param name="ClassNames">Class names by label.</param>
/// <param name="Normalization">The input normalisation of training (applied inside the graph).</param>
/// <param name="ResizeShortSide">Keep-ratio resize of evaluation: short side…</param>
/// <param name="ResizeMaxLongSide">…unless the long side would exceed this.</param>
/// <param name="ScoreThreshold">Candidates need a class score above this.</param>
/// <param name="PreNmsTopK">Candidates kept per level.</param>
/// <param name="NmsIoU">Class-aware NMS IoU threshold.</param>
/// <param name="MaxDetections">Detections kept per image.</param>
/// <param name="SizeDivisor">Padded input sides are multiples of this.</param>
/// <param name="RunConfigJson">The training configuration (JSON), kept for evaluation; optional.</param>
public sealed record OnnxExportMetadata(
    IReadOnlyList<string> ClassNames,
    ImageNormalization Normalization,
    int ResizeShortSide,
    int ResizeMaxLongSide,
    double ScoreThreshold,
    int PreNmsTopK,
    double NmsIoU,
    int MaxDetections,
    int SizeDivisor = 32,
    string? RunConfigJson = null);

/// <summary>
/// How a detector type's graph is composed after the shared input normalisation: its backbone, neck
/// and head through the module exporters, then its own decoding (priors, box coder, score factor).
/// Adding a detector is adding its head's module exporter and one of these.
/// </summary>
/// <param name="Build">Writes the graph from the normalised input to the decoded outputs; the size is the fixed input size or null.</param>
public sealed record OnnxDetectorExport(Func<OnnxExportContext, DenseDetector, string, (int H, int W)?, DenseDecodeValues> Build);

/// <summary>
/// Writes a trained detector as an ONNX model whose input is the image (float32 RGB, 0–255, NCHW; the
/// training normalisation is the graph's first nodes) and whose outputs are decoded boxes in input
/// pixels, per-class scores and the score factor, with BatchNorm folded into the convolutions and the
/// metadata the inference library reads. The graph is composed from the exporters of the detector's
/// module types (<see cref="OnnxModuleExporters"/>) and its decoding (<see cref="DenseDecodeExport"/>).
/// </summary>
public static class OnnxExporter
{
    public const int DefaultOpset = 17;
    public const int MinOpset = 13;
    public const int MaxOpset = 21;

    /// <summary>The metadata format version (hpfdet.format); the inference library refuses other versions.</summary>
    public const string FormatVersion = "1";

    /// <summary>The exportable detectors by exact type.</summary>
    public static IReadOnlyDictionary<Type, OnnxDetectorExport> Detectors { get; } = new Dictionary<Type, OnnxDetectorExport>
    {
        [typeof(AtssDetector)] = new(ExportAtss),
        [typeof(RetinaNetDetector)] = new(ExportRetinaNet),
        [typeof(FcosDetector)] = new(ExportFcos),
    };

    /// <summary>Builds the model; throws <see cref="HpfDetException"/> for a detector or module type without an exporter, or bad options.</summary>
    public static ModelProto Build(nn.Module module, OnnxExportMetadata metadata, OnnxExportOptions? options = null)
    {
        options ??= new OnnxExportOptions();
        if (options.Opset is < MinOpset or > MaxOpset)
            throw new HpfDetException($"ONNX export: opset {options.Opset} is not supported; use {MinOpset} to {MaxOpset} (default {DefaultOpset}).");
        if (options.ImageSize is { } fixedSize && (fixedSize.H < 32 || fixedSize.W < 32))
            throw new HpfDetException($"ONNX export: image size {fixedSize.H}x{fixedSize.W} is too small; give a height and width of at least 32.");
        if (module is not DenseDetector detector || !Detectors.TryGetValue(detector.GetType(), out var export))
            throw new HpfDetException($"ONNX export: the detector {(module is DenseDetector d ? $"'{d.Family}' ({d.GetType().Name})" : module.GetType().Name)} is not exportable yet " +
                $"(exportable: {string.Join(", ", Detectors.Keys.Select(t => t.Name))}).");
        if (metadata.Normalization.Mean.Length != 3 || metadata.Normalization.Std.Length != 3)
            throw new HpfDetException("ONNX export: the input normalisation needs 3 means and 3 standard deviations.");

        bool wasTraining = detector.training;
        detector.eval();
        try
        {
            using var noGrad = torch.no_grad();
            var g = new OnnxGraphBuilder(options.Opset);
            var ctx = new OnnxExportContext(g, OnnxModuleExporters.Default);
            object height = options.ImageSize is { } s1 ? (long)s1.H : "height";
            object width = options.ImageSize is { } s2 ? (long)s2.W : "width";
            g.Input(InputName, TensorProto.Types.DataType.Float, "batch", 3L, height, width);
            var normalised = Normalise(g, metadata.Normalization);
            var decoded = export.Build(ctx, detector, normalised, options.ImageSize);
            if (decoded.ScoreFactors is null) decoded = decoded with { FactorUse = DenseScoreFactor.None };   // no factor output: nothing to combine
            int numClasses = metadata.ClassNames.Count;
            g.Output(BoxesName, decoded.Boxes, TensorProto.Types.DataType.Float, "batch", decoded.AnchorCount, 4L);
            g.Output(ScoresName, decoded.Scores, TensorProto.Types.DataType.Float, "batch", decoded.AnchorCount, (long)numClasses);
            if (decoded.ScoreFactors is { } factors)
                g.Output(ScoreFactorsName, factors, TensorProto.Types.DataType.Float, "batch", decoded.AnchorCount);

            var model = new ModelProto
            {
                IrVersion = 8,
                ProducerName = "hpfdet",
                ProducerVersion = HpfDet.HpfDetVersion.Informational,
                Domain = "hpfdet",
                DocString = $"HpfDet {detector.Family} detector. Input '{InputName}': float32 [batch, 3, height, width], RGB, 0-255, " +
                    "padded bottom/right with the pad value; outputs: boxes [batch, N, 4] (x1, y1, x2, y2 in input pixels, not clipped), " +
                    "scores [batch, N, classes] (sigmoid)" + decoded.FactorUse switch
                    {
                        DenseScoreFactor.Multiply => ", score_factors [batch, N] (select candidates by score, then multiply the factor into their scores).",
                        DenseScoreFactor.GeometricMean => ", score_factors [batch, N] (the candidate score is sqrt(score * factor): select by it and keep it).",
                        _ => " (select candidates by score, which is the detection score).",
                    },
                Graph = g.Graph,
            };
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = options.Opset });
            foreach (var (key, value) in MetadataEntries(detector.Family, metadata, options, decoded))
                model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
            return model;
        }
        finally
        {
            if (wasTraining) detector.train();
        }
    }

    /// <summary>Builds the model and writes it to <paramref name="path"/>.</summary>
    public static void Save(nn.Module detector, string path, OnnxExportMetadata metadata, OnnxExportOptions? options = null)
    {
        var model = Build(detector, metadata, options);
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        using var stream = File.Create(path);
        model.WriteTo(stream);
    }

    public const string InputName = "images";
    public const string BoxesName = "boxes";
    public const string ScoresName = "scores";
    public const string ScoreFactorsName = "score_factors";

    /// <summary>
    /// RGB 0–255 → the training input: channel order, then v·(unit/std) − mean/std per channel, the
    /// arithmetic of <see cref="ImageNormalization.WriteChw"/>.
    /// </summary>
    static string Normalise(OnnxGraphBuilder g, ImageNormalization n)
    {
        var x = InputName;
        if (n.Order == ChannelOrder.Bgr)
            x = g.Op("Gather", "input.bgr", [x, g.Int64Vector("bgr_order", 2, 1, 0)], ("axis", 1L));
        var unit = n.UnitScale ? 1f / 255f : 1f;
        var mul = Enumerable.Range(0, 3).Select(c => unit / n.Std[c]).ToArray();
        var add = Enumerable.Range(0, 3).Select(c => -n.Mean[c] / n.Std[c]).ToArray();
        return g.Op("Add", "input.normalised", [g.Op("Mul", "input.scaled", [x, g.Floats("input.mul", mul, 1, 3, 1, 1)]), g.Floats("input.add", add, 1, 3, 1, 1)]);
    }

    /// <summary>The RGB 0–255 value whose normalised value is 0: what training pads with (zeros after normalisation).</summary>
    public static float[] PadValueRgb(ImageNormalization n)
    {
        var scale = n.UnitScale ? 255f : 1f;
        var rgb = new float[3];
        for (int c = 0; c < 3; c++)
        {
            int source = n.Order == ChannelOrder.Rgb ? c : 2 - c;   // normalised channel c reads RGB channel `source`
            rgb[source] = n.Mean[c] * scale;
        }
        return rgb;
    }

    /// <summary>The "hpfdet.score_factor" metadata value of a score factor use: "none", "multiply" or "geometric_mean".</summary>
    public static string ScoreFactorMetadata(DenseScoreFactor use) => use switch
    {
        DenseScoreFactor.None => "none",
        DenseScoreFactor.Multiply => "multiply",
        DenseScoreFactor.GeometricMean => "geometric_mean",
        _ => throw new ArgumentOutOfRangeException(nameof(use), use, null),
    };

    static IEnumerable<(string Key, string Value)> MetadataEntries(string detectorName, OnnxExportMetadata m, OnnxExportOptions o, DenseDecodeValues decoded)
    {
        static string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        static string I(long v) => v.ToString(CultureInfo.InvariantCulture);
        yield return ("hpfdet.format", FormatVersion);
        yield return ("hpfdet.version", HpfDet.HpfDetVersion.Informational);
        yield return ("hpfdet.detector", detectorName);
        yield return ("hpfdet.class_names", JsonSerializer.Serialize(m.ClassNames));
        yield return ("hpfdet.input", "float32 RGB 0-255 NCHW");
        yield return ("hpfdet.input_size", o.ImageSize is { } s ? $"{I(s.H)}x{I(s.W)}" : "dynamic");
        yield return ("hpfdet.resize", $"{I(m.ResizeShortSide)},{I(m.ResizeMaxLongSide)}");
        yield return ("hpfdet.size_divisor", I(m.SizeDivisor));
        yield return ("hpfdet.pad_value", string.Join(",", PadValueRgb(m.Normalization).Select(v => F(v))));
        yield return ("hpfdet.normalization", JsonSerializer.Serialize(new
        {
            mean = m.Normalization.Mean, std = m.Normalization.Std,
            order = m.Normalization.Order.ToString().ToUpperInvariant(), unit_scale = m.Normalization.UnitScale,
        }));
        yield return ("hpfdet.score_threshold", F(m.ScoreThreshold));
        yield return ("hpfdet.pre_nms_top_k", I(m.PreNmsTopK));
        yield return ("hpfdet.nms_iou", F(m.NmsIoU));
        yield return ("hpfdet.max_detections", I(m.MaxDetections));
        yield return ("hpfdet.strides", string.Join(",", decoded.Strides.Select(v => I(v))));
        yield return ("hpfdet.anchors_per_location", I(decoded.PriorsPerLocation));
        yield return ("hpfdet.score_factor", ScoreFactorMetadata(decoded.FactorUse));
        if (m.RunConfigJson is { } config) yield return ("hpfdet.run_config", config);
    }

    /// <summary>
    /// Backbone → neck → head through the module exporters; the head's outputs in its exporter's order,
    /// and for a fixed input size each level's (H, W), read from the detector itself.
    /// </summary>
    static (IReadOnlyList<string> Head, IReadOnlyList<(int H, int W)>? FixedSizes) ExportNetwork(OnnxExportContext ctx, DenseDetector detector, string input, (int H, int W)? imageSize)
    {
        var features = ctx.Export(detector.Backbone, "backbone", [input]);
        var pyramid = ctx.Export(detector.Neck, "neck", features);
        var head = ctx.Export(detector.Head, "head", pyramid);
        IReadOnlyList<(int H, int W)>? fixedSizes = null;
        if (imageSize is { } size)
        {
            using var scope = torch.NewDisposeScope();
            DenseHeadOutputs outputs = detector.forward(torch.zeros(1, 3, size.H, size.W));
            fixedSizes = outputs.ClassLogits.Select(t => ((int)t.shape[2], (int)t.shape[3])).ToArray();
        }
        return (head, fixedSizes);
    }

    /// <summary>The head's outputs as <paramref name="groups"/> equal runs of levels (class logits, box regression, ...).</summary>
    static IReadOnlyList<string>[] Groups(IReadOnlyList<string> head, int groups, DenseDetector detector)
    {
        if (head.Count == 0 || head.Count % groups != 0)
            throw new HpfDetException($"ONNX export: the {detector.Family} head gives {head.Count} outputs, not {groups} per level.");
        int levels = head.Count / groups;
        return Enumerable.Range(0, groups).Select(i => (IReadOnlyList<string>)head.Skip(i * levels).Take(levels).ToList()).ToArray();
    }

    /// <summary>ATSS: the dense decoding with its delta coder; centerness is multiplied into the selected class scores.</summary>
    static DenseDecodeValues ExportAtss(OnnxExportContext ctx, DenseDetector module, string input, (int H, int W)? imageSize)
    {
        var detector = (AtssDetector)module;
        var (head, fixedSizes) = ExportNetwork(ctx, detector, input, imageSize);
        var o = Groups(head, 3, detector);
        return DenseDecodeExport.Export(ctx, o[0], o[1], o[2], DenseScoreFactor.Multiply, detector.NumClasses, detector.AnchorGenerator,
            (c, p, r) => DenseDecodeExport.DeltaXYWH(c, detector.BoxCoder, p, r), fixedSizes);
    }

    /// <summary>RetinaNet: the dense decoding with torchvision's delta coder (weights 1, clamp from above); no score factor.</summary>
    static DenseDecodeValues ExportRetinaNet(OnnxExportContext ctx, DenseDetector module, string input, (int H, int W)? imageSize)
    {
        var detector = (RetinaNetDetector)module;
        var (head, fixedSizes) = ExportNetwork(ctx, detector, input, imageSize);
        var o = Groups(head, 2, detector);
        return DenseDecodeExport.Export(ctx, o[0], o[1], null, DenseScoreFactor.None, detector.NumClasses, detector.AnchorGenerator,
            (c, p, r) => DenseDecodeExport.DeltaXYWH(c, detector.BoxCoder, p, r), fixedSizes);
    }

    /// <summary>FCOS: the dense decoding of its point priors with the size-normalised linear coder; the candidate score is sqrt(class score · centerness).</summary>
    static DenseDecodeValues ExportFcos(OnnxExportContext ctx, DenseDetector module, string input, (int H, int W)? imageSize)
    {
        var detector = (FcosDetector)module;
        var (head, fixedSizes) = ExportNetwork(ctx, detector, input, imageSize);
        var o = Groups(head, 3, detector);
        return DenseDecodeExport.Export(ctx, o[0], o[1], o[2], DenseScoreFactor.GeometricMean, detector.NumClasses, detector.PointPriors,
            (c, p, r) => DenseDecodeExport.Linear(c, detector.BoxCoder, p, r), fixedSizes);
    }
}
