using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SkiaSharp;

namespace HpfDet.Inference;

/// <summary>One detection in original-image pixels.</summary>
public sealed record Detection(float X1, float Y1, float X2, float Y2, float Score, int Label, string ClassName);

/// <summary>Where ONNX Runtime runs the model.</summary>
public enum ExecutionProvider
{
    /// <summary>The CPU (always available).</summary>
    Cpu,
    /// <summary>NVIDIA CUDA: needs the Microsoft.ML.OnnxRuntime.Gpu package instead of Microsoft.ML.OnnxRuntime.</summary>
    Cuda,
    /// <summary>DirectML on Windows: needs the Microsoft.ML.OnnxRuntime.DirectML package.</summary>
    DirectML,
}

/// <summary>Options of <see cref="OnnxDetector"/>; the null post-processing values take the model's metadata.</summary>
/// <param name="Provider">Execution provider.</param>
/// <param name="DeviceId">GPU index for CUDA/DirectML.</param>
/// <param name="IntraOpThreads">ONNX Runtime's threads per run (0: its default).</param>
public sealed record OnnxDetectorOptions(
    ExecutionProvider Provider = ExecutionProvider.Cpu,
    int DeviceId = 0,
    int IntraOpThreads = 0,
    double? ScoreThreshold = null,
    double? NmsIoU = null,
    int? MaxDetections = null);

/// <summary>The raw outputs of one run: boxes [B, N, 4] in input pixels, scores [B, N, C], score factors [B, N] (or null).</summary>
public sealed record OnnxRawOutputs(int Batch, int Anchors, int Classes, float[] Boxes, float[] Scores, float[]? ScoreFactors);

/// <summary>
/// A detector exported by 'hpfdet export', run with ONNX Runtime:
/// <c>using var detector = OnnxDetector.Load("model.onnx"); var d = detector.Detect("image.jpg");</c>.
/// Images are decoded, resized keeping their aspect ratio and padded as in training; detections go
/// through per-level top-k, class-aware NMS and the per-image cap, and come back in original-image
/// pixels. Safe for concurrent calls on one instance (ONNX Runtime sessions are; nothing else is mutable).
/// </summary>
public sealed class OnnxDetector : IDisposable
{
    readonly InferenceSession session;
    readonly float scoreThreshold;
    readonly double nmsIoU;
    readonly int maxDetections;

    OnnxDetector(InferenceSession session, OnnxModelInfo info, OnnxDetectorOptions options)
    {
        this.session = session;
        Info = info;
        scoreThreshold = (float)(options.ScoreThreshold ?? info.ScoreThreshold);
        nmsIoU = options.NmsIoU ?? info.NmsIoU;
        maxDetections = options.MaxDetections ?? info.MaxDetections;
    }

    /// <summary>The model's HpfDet metadata.</summary>
    public OnnxModelInfo Info { get; }

    /// <summary>Loads a model; a missing or corrupt file, a model without HpfDet metadata or of an unknown detector is an <see cref="OnnxDetectorException"/>.</summary>
    public static OnnxDetector Load(string path, OnnxDetectorOptions? options = null)
    {
        options ??= new OnnxDetectorOptions();
        if (!File.Exists(path)) throw new OnnxDetectorException($"ONNX model '{path}' not found.");
        using var sessionOptions = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        if (options.IntraOpThreads > 0) sessionOptions.IntraOpNumThreads = options.IntraOpThreads;
        try
        {
            switch (options.Provider)
            {
                case ExecutionProvider.Cuda: sessionOptions.AppendExecutionProvider_CUDA(options.DeviceId); break;
                case ExecutionProvider.DirectML: sessionOptions.AppendExecutionProvider("DML", new Dictionary<string, string> { ["device_id"] = options.DeviceId.ToString(System.Globalization.CultureInfo.InvariantCulture) }); break;
            }
        }
        catch (Exception e) when (e is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException or NotSupportedException)
        {
            throw new OnnxDetectorException($"The {options.Provider} execution provider is not available in this ONNX Runtime package ({e.Message}): " +
                "reference Microsoft.ML.OnnxRuntime.Gpu (CUDA) or Microsoft.ML.OnnxRuntime.DirectML, or use the CPU.", e);
        }
        InferenceSession session;
        try { session = new InferenceSession(path, sessionOptions); }
        catch (OnnxRuntimeException e)
        {
            throw new OnnxDetectorException($"'{path}' is not a valid ONNX model ({FirstLine(e.Message)}): re-export it with 'hpfdet export'.", e);
        }
        try
        {
            var info = OnnxModelInfo.Parse(session.ModelMetadata.CustomMetadataMap, path);
            var outputs = info.ScoreFactor == ScoreFactorUse.None ? new[] { "boxes", "scores" } : ["boxes", "scores", "score_factors"];
            foreach (var name in outputs)
                if (!session.OutputMetadata.ContainsKey(name))
                    throw new OnnxDetectorException($"'{path}' has no '{name}' output: re-export the model with 'hpfdet export'.");
            if (!session.InputMetadata.ContainsKey("images"))
                throw new OnnxDetectorException($"'{path}' has no 'images' input: re-export the model with 'hpfdet export'.");
            return new OnnxDetector(session, info, options);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    static string FirstLine(string s) => s.Split('\n')[0].Trim();

    /// <summary>Detections in an image file.</summary>
    public IReadOnlyList<Detection> Detect(string imagePath) => Detect([imagePath])[0];

    /// <summary>Detections in a bitmap.</summary>
    public IReadOnlyList<Detection> Detect(SKBitmap image) => Detect([image])[0];

    /// <summary>Detections in image files, run as one batch (padded to the largest).</summary>
    public IReadOnlyList<IReadOnlyList<Detection>> Detect(IReadOnlyList<string> imagePaths) =>
        DetectImages(imagePaths.Select(p => RgbaImage.Decode(p, ResizedSize)).ToList());

    /// <summary>Detections in bitmaps, run as one batch (padded to the largest).</summary>
    public IReadOnlyList<IReadOnlyList<Detection>> Detect(IReadOnlyList<SKBitmap> images) =>
        DetectImages(images.Select(RgbaImage.FromBitmap).ToList());

    /// <summary>Detections in decoded RGBA images, run as one batch (padded to the largest).</summary>
    public IReadOnlyList<IReadOnlyList<Detection>> Detect(IReadOnlyList<RgbaImage> images)
    {
        foreach (var im in images)
            if (im.Width <= 0 || im.Height <= 0 || im.Rgba.Length != im.Width * im.Height * 4)
                throw new OnnxDetectorException($"An RGBA image of {im.Width}x{im.Height} needs {im.Width * im.Height * 4} bytes, not {im.Rgba.Length}.");
        return DetectImages(images);
    }

    /// <summary>One image's place in the batch: original size and resized content size.</summary>
    internal readonly record struct Placement(int OriginalWidth, int OriginalHeight, int Width, int Height);

    internal IReadOnlyList<IReadOnlyList<Detection>> DetectImages(IReadOnlyList<RgbaImage> images)
    {
        if (images.Count == 0) return [];
        var (input, placements, h, w) = Prepare(images);
        var raw = Run(input, images.Count, h, w);
        return Enumerable.Range(0, images.Count).Select(b => (IReadOnlyList<Detection>)Postprocess(raw, b, h, w, placements[b])).ToList();
    }

    /// <summary>The keep-ratio size of training (short side, capped long side), also capped to a fixed input size.</summary>
    public (int Width, int Height) ResizedSize(int width, int height)
    {
        var factor = Math.Min(Info.ResizeShortSide / (double)Math.Min(width, height), Info.ResizeMaxLongSide / (double)Math.Max(width, height));
        if (Info.FixedInputSize is { } f) factor = Math.Min(factor, Math.Min(f.H / (double)height, f.W / (double)width));
        return (Math.Max(1, (int)Math.Round(width * factor)), Math.Max(1, (int)Math.Round(height * factor)));
    }

    /// <summary>The batch input: each image resized, written as RGB floats 0–255 top-left, the rest the pad value.</summary>
    internal (float[] Input, Placement[] Placements, int Height, int Width) Prepare(IReadOnlyList<RgbaImage> images)
    {
        // The resized size follows the image's full size, also when it was decoded reduced (as in training).
        var resized = images.Select(im => { var (nw, nh) = ResizedSize(im.SourceSize.Width, im.SourceSize.Height); return im.Resize(nw, nh); }).ToList();
        int div = Math.Max(1, Info.SizeDivisor);
        var (h, w) = Info.FixedInputSize ?? (RoundUp(resized.Max(r => r.Height), div), RoundUp(resized.Max(r => r.Width), div));
        int plane = h * w;
        var input = new float[images.Count * 3 * plane];
        var placements = new Placement[images.Count];
        for (int b = 0; b < images.Count; b++)
        {
            var r = resized[b];
            placements[b] = new Placement(images[b].SourceSize.Width, images[b].SourceSize.Height, r.Width, r.Height);
            for (int c = 0; c < 3; c++)
            {
                var dst = input.AsSpan((b * 3 + c) * plane, plane);
                dst.Fill(Info.PadValueRgb[c]);
                for (int y = 0; y < r.Height; y++)
                {
                    var row = dst.Slice(y * w, r.Width);
                    int p = y * r.Width * 4 + c;
                    for (int x = 0; x < row.Length; x++, p += 4) row[x] = r.Rgba[p];
                }
            }
        }
        return (input, placements, h, w);
    }

    static int RoundUp(int v, int d) => (v + d - 1) / d * d;

    /// <summary>Runs the graph on a prepared batch [batch, 3, height, width] (RGB, 0–255).</summary>
    public OnnxRawOutputs Run(float[] input, int batch, int height, int width)
    {
        var tensor = new DenseTensor<float>(input, [batch, 3, height, width]);
        var inputs = new[] { NamedOnnxValue.CreateFromTensor("images", tensor) };
        try
        {
            using var results = session.Run(inputs);
            var byName = results.ToDictionary(r => r.Name, r => r.AsTensor<float>());
            var boxes = byName["boxes"];
            var scores = byName["scores"];
            return new OnnxRawOutputs(batch, boxes.Dimensions[1], scores.Dimensions[2], boxes.ToArray(), scores.ToArray(),
                byName.TryGetValue("score_factors", out var f) ? f.ToArray() : null);
        }
        catch (OnnxRuntimeException e)
        {
            throw new OnnxDetectorException($"ONNX Runtime failed on a {batch}x3x{height}x{width} input: {FirstLine(e.Message)}", e);
        }
    }

    /// <summary>
    /// The detections of image <paramref name="b"/>, as the libtorch detector's post-processing gives
    /// them: per level the candidates scoring above the threshold (the top-k of them by score when
    /// more), boxes clipped to the resized content, the score factor applied as the metadata says
    /// (<see cref="ScoreFactorUse"/>: none; multiplied into the selected scores; or the candidate score
    /// sqrt(score · factor) itself), class-aware NMS, the best detections; then mapped back to the original image.
    /// </summary>
    internal List<Detection> Postprocess(OnnxRawOutputs raw, int b, int height, int width, Placement place)
    {
        int a = Info.AnchorsPerLocation, c = raw.Classes;
        var levelCounts = Info.Strides.Select(s => (long)CeilDiv(height, s) * CeilDiv(width, s) * a).ToArray();
        if (levelCounts.Sum() != raw.Anchors)
            throw new OnnxDetectorException($"The model gives {raw.Anchors} boxes for a {height}x{width} input, but its strides ({string.Join(", ", Info.Strides)}) give {levelCounts.Sum()}: the metadata does not match the graph.");
        bool multiply = Info.ScoreFactor == ScoreFactorUse.Multiply, geometricMean = Info.ScoreFactor == ScoreFactorUse.GeometricMean;
        if ((multiply || geometricMean) && raw.ScoreFactors is null)
            throw new OnnxDetectorException($"The model's metadata combines a score factor with the scores ({Info.ScoreFactor}), but the model gives no 'score_factors' output.");
        var boxes = new List<float>();
        var scores = new List<float>();
        var labels = new List<int>();
        long offset = 0;
        foreach (var count in levelCounts)
        {
            long firstAnchor = (long)b * raw.Anchors + offset;
            long first = firstAnchor * c;
            var candidates = new List<(long Index, float Score)>();
            for (long i = 0; i < count * c; i++)
            {
                var s = raw.Scores[first + i];
                // FCOS: the candidate score is the geometric mean of class score and factor, in float32 as libtorch computes it.
                if (geometricMean) s = MathF.Sqrt(s * raw.ScoreFactors![firstAnchor + i / c]);
                if (s > scoreThreshold) candidates.Add((i, s));
            }
            // The top-k by score, best first (stable: ties keep index order).
            candidates = candidates.OrderByDescending(k => k.Score).Take(Info.PreNmsTopK).ToList();
            foreach (var (i, s) in candidates)
            {
                long anchor = (long)b * raw.Anchors + offset + i / c;
                float factor = multiply ? raw.ScoreFactors![anchor] : 1f;
                for (int k = 0; k < 4; k++)
                {
                    float limit = k % 2 == 0 ? place.Width : place.Height;
                    boxes.Add(Math.Clamp(raw.Boxes[anchor * 4 + k], 0f, limit));
                }
                scores.Add(s * factor);
                labels.Add((int)(i % c));
            }
            offset += count;
        }
        var keep = Suppression.BatchedNms(boxes.ToArray(), scores.ToArray(), labels.ToArray(), nmsIoU);
        double sx = place.Width / (double)place.OriginalWidth, sy = place.Height / (double)place.OriginalHeight;
        var result = new List<Detection>(Math.Min(keep.Length, maxDetections));
        foreach (var k in keep.Take(maxDetections))
        {
            // As the evaluation maps boxes back: divide by the resize factor, then clip to the original image.
            float X(int j) => (float)Math.Clamp((float)(boxes[4 * k + j] / sx), 0, place.OriginalWidth);
            float Y(int j) => (float)Math.Clamp((float)(boxes[4 * k + j] / sy), 0, place.OriginalHeight);
            result.Add(new Detection(X(0), Y(1), X(2), Y(3), scores[k], labels[k], Info.ClassNames[labels[k]]));
        }
        return result;
    }

    static int CeilDiv(int v, int d) => (v + d - 1) / d;

    public void Dispose() => session.Dispose();
}
