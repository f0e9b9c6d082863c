using System.Collections;
using System.Text.Json;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace HpfDet.Models.Backbones;

/// <summary>What a weight import did.</summary>
/// <param name="SourcePath">The file read.</param>
/// <param name="TensorsLoaded">Model tensors overwritten from the file.</param>
/// <param name="ModelTensors">State-dict entries of the model.</param>
/// <param name="NotLoaded">Model state-dict keys left as they were (e.g. num_batches_tracked, absent from
/// torchvision's published checkpoints and from the ONNX export).</param>
/// <param name="IgnoredSourceKeys">File entries deliberately not used (torchvision's fc.*).</param>
public sealed record PretrainedLoadReport(
    string SourcePath,
    int TensorsLoaded,
    int ModelTensors,
    IReadOnlyList<string> NotLoaded,
    IReadOnlyList<string> IgnoredSourceKeys);

/// <summary>Imports pretrained ResNet weights: the ImageNet ResNet-18 ONNX export, or torchvision state dicts.</summary>
public static class PretrainedWeights
{
    /// <summary>NuGet package that ships the ImageNet ResNet-18 ONNX file.</summary>
    public const string ResNet18OnnxPackageId = "Microsoft.ML.DnnImageFeaturizer.ResNet18";

    /// <summary>Version of <see cref="ResNet18OnnxPackageId"/> this project references.</summary>
    public const string ResNet18OnnxPackageVersion = "0.23.1";

    /// <summary>Environment variable that, when set, names the ResNet-18 ONNX file to use.</summary>
    public const string ResNet18OnnxEnvironmentVariable = "HPFDET_RESNET18_ONNX";

    /// <summary>The ONNX file's path inside the package, and inside a build output (the package's build
    /// props copy tools/DnnImageModels/** to DnnImageModels/ in the output folder).</summary>
    const string OnnxPathInOutput = "DnnImageModels/ResNet18Onnx/ResNet18.onnx";
    const string OnnxPathInPackage = "tools/DnnImageModels/ResNet18Onnx/ResNet18.onnx";

    /// <summary>Basic blocks per stage of the ONNX ResNet-18 (one more in the last stage than torchvision's).</summary>
    public static int[] ImageNetOnnxBlocksPerStage => [2, 2, 2, 3];

    /// <summary>
    /// Per-channel means (B, G, R), on the 0–255 scale, of the mean image in the package's
    /// ResNetPreprocess.onnx. The ONNX ResNet-18 expects BGR 0–255 input minus these.
    /// </summary>
    public static IReadOnlyList<float> ImageNetOnnxMeanBgr { get; } = [103.0626f, 115.9029f, 123.1516f];

    /// <summary>
    /// RGB images on the 0–255 scale [N, 3, H, W] → the ONNX ResNet-18's input convention: BGR channel
    /// order minus <see cref="ImageNetOnnxMeanBgr"/> [N, 3, H, W].
    /// </summary>
    public static Tensor NormalizeForImageNetOnnx(Tensor rgb255)
    {
        if (rgb255.dim() != 4 || rgb255.shape[1] != 3)
            throw new ArgumentException($"Expected [N, 3, H, W] RGB images, got [{string.Join(", ", rgb255.shape)}].", nameof(rgb255));
        using var scope = NewDisposeScope();
        var bgr = rgb255.flip(1);
        using var mean = tensor(ImageNetOnnxMeanBgr.ToArray(), dtype: rgb255.dtype, device: rgb255.device).view(1, 3, 1, 1);
        return bgr.sub(mean).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Where the ONNX ResNet-18 is looked for, in order: the environment variable
    /// <see cref="ResNet18OnnxEnvironmentVariable"/>; DnnImageModels/ResNet18Onnx/ResNet18.onnx beside the
    /// application; the NuGet package folder under NUGET_PACKAGES, then under ~/.nuget/packages.
    /// </summary>
    public static IReadOnlyList<string> ResNet18OnnxCandidatePaths()
    {
        var paths = new List<string>();
        var fromEnv = Environment.GetEnvironmentVariable(ResNet18OnnxEnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(fromEnv)) paths.Add(Path.GetFullPath(fromEnv));
        paths.Add(Path.Combine(AppContext.BaseDirectory, OnnxPathInOutput));
        var packageFolder = Path.Combine(ResNet18OnnxPackageId.ToLowerInvariant(), ResNet18OnnxPackageVersion, OnnxPathInPackage);
        var nugetPackages = Environment.GetEnvironmentVariable("NUGET_PACKAGES");
        if (!string.IsNullOrWhiteSpace(nugetPackages)) paths.Add(Path.Combine(nugetPackages, packageFolder));
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (!string.IsNullOrEmpty(home)) paths.Add(Path.Combine(home, ".nuget", "packages", packageFolder));
        return paths;
    }

    /// <summary>The first existing <see cref="ResNet18OnnxCandidatePaths"/>; throws listing them all when none exists.</summary>
    public static string FindResNet18Onnx()
    {
        var candidates = ResNet18OnnxCandidatePaths();
        foreach (var path in candidates)
            if (File.Exists(path)) return path;
        throw new HpfDetException(
            $"ImageNet ResNet-18 ONNX file not found; looked in: {string.Join("; ", candidates)}. " +
            $"Reference the NuGet package {ResNet18OnnxPackageId} {ResNet18OnnxPackageVersion} (or restore it), " +
            $"or set {ResNet18OnnxEnvironmentVariable} to the file's path.");
    }

    /// <summary>
    /// Loads the ImageNet ResNet-18 ONNX export (a CNTK export whose initializers are named
    /// ParameterNN/ConstantNN) into <paramref name="model"/> by walking the graph: the stem is the first
    /// Conv fed by the graph input; each Add closes one residual block, whose main branch is the
    /// Conv→BN(→Relu→Conv→BN)… chain and whose shortcut is the block input or a Conv→BN of it. Blocks are
    /// matched in graph order to layer1..layer4; every shape and stride is checked before anything is written.
    /// The model must be an R18 with <see cref="ImageNetOnnxBlocksPerStage"/>. The export pads its
    /// stride-2 convolutions and max-pool unevenly (top/left only); that equals the symmetric padding of
    /// this model for even feature sizes (e.g. inputs that are multiples of 32), and shifts the sampling
    /// grid by one pixel for odd ones.
    /// </summary>
    public static PretrainedLoadReport LoadResNet18Onnx(ResNet model, string? path = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        path ??= FindResNet18Onnx();
        var graph = OnnxGraphReader.Read(path);
        var plan = new ResNetOnnxImportPlan(graph, path);
        var assignments = plan.Match(model);

        using (no_grad())
        {
            foreach (var (target, source, _) in assignments)
            {
                using var value = tensor(source.Data, dtype: ScalarType.Float32).reshape(source.Dims);
                target.copy_(value);
            }
        }

        var loaded = new HashSet<Tensor>(assignments.Select(a => a.Target), ReferenceEqualityComparer.Instance);
        var stateDict = model.state_dict();
        var notLoaded = stateDict.Where(kv => !loaded.Contains(kv.Value)).Select(kv => kv.Key).ToList();
        return new PretrainedLoadReport(path, assignments.Count, stateDict.Count, notLoaded, []);
    }

    /// <summary>
    /// Loads a torchvision-format ResNet state dict (torch.save'd .pth/.pt, or .safetensors) into
    /// <paramref name="model"/>. fc.* entries are ignored; num_batches_tracked may be absent (torchvision's
    /// published checkpoints lack it). Any other missing or unexpected key, or a shape mismatch, raises an
    /// <see cref="HpfDetException"/> listing them, and nothing is written.
    /// </summary>
    public static PretrainedLoadReport LoadTorchvisionStateDict(ResNet model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (!File.Exists(path))
            throw new HpfDetException($"State-dict file '{path}' not found.");
        var source = ReadStateDict(path);
        try
        {
            var target = model.state_dict();
            var ignored = source.Keys.Where(k => k.StartsWith("fc.", StringComparison.Ordinal)).OrderBy(k => k, StringComparer.Ordinal).ToList();
            var unexpected = source.Keys.Where(k => !k.StartsWith("fc.", StringComparison.Ordinal) && !target.ContainsKey(k))
                .OrderBy(k => k, StringComparer.Ordinal).ToList();
            var missing = target.Keys.Where(k => !source.ContainsKey(k) && !k.EndsWith("num_batches_tracked", StringComparison.Ordinal)).ToList();
            var shapeErrors = target.Where(kv => source.TryGetValue(kv.Key, out var s) && !s.shape.SequenceEqual(kv.Value.shape))
                .Select(kv => $"{kv.Key}: file [{string.Join(", ", source[kv.Key].shape)}], model [{string.Join(", ", kv.Value.shape)}]").ToList();
            if (missing.Count + unexpected.Count + shapeErrors.Count > 0)
            {
                var parts = new List<string>();
                if (missing.Count > 0) parts.Add($"missing keys ({missing.Count}): {ListSome(missing)}");
                if (unexpected.Count > 0) parts.Add($"unexpected keys ({unexpected.Count}): {ListSome(unexpected)}");
                if (shapeErrors.Count > 0) parts.Add($"shape mismatches ({shapeErrors.Count}): {ListSome(shapeErrors)}");
                throw new HpfDetException(
                    $"State-dict file '{path}' does not match a torchvision ResNet {(int)model.Options.Depth} with blocks " +
                    $"[{string.Join(", ", model.BlocksPerStage)}]: {string.Join("; ", parts)}. " +
                    "Use a torchvision resnet state dict of the same depth (keys like 'layer1.0.conv1.weight', no 'module.' or 'backbone.' prefix).");
            }

            int loaded = 0;
            var notLoaded = new List<string>();
            using (no_grad())
            {
                foreach (var (key, value) in target)
                {
                    if (!source.TryGetValue(key, out var s)) { notLoaded.Add(key); continue; }
                    value.copy_(s.to(value.dtype));
                    loaded++;
                }
            }
            return new PretrainedLoadReport(path, loaded, target.Count, notLoaded, ignored);
        }
        finally
        {
            foreach (var t in source.Values) t.Dispose();
        }
    }

    static string ListSome(List<string> items) =>
        string.Join(", ", items.Take(20)) + (items.Count > 20 ? $", … ({items.Count - 20} more)" : "");

    static Dictionary<string, Tensor> ReadStateDict(string path)
    {
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
            return SafetensorsReader.Read(path);
        try
        {
            using var stream = File.OpenRead(path);
            Hashtable table = PyTorchUnpickler.UnpickleStateDict(stream);
            var dict = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (DictionaryEntry entry in table)
            {
                if (entry.Key is string key && entry.Value is Tensor t) dict[key] = t;
                else
                    throw new HpfDetException($"State-dict file '{path}': entry '{entry.Key}' is not a tensor; save the model's state_dict() itself (torch.save(model.state_dict(), path)).");
            }
            return dict;
        }
        catch (Exception e) when (e is not HpfDetException)
        {
            throw new HpfDetException(
                $"State-dict file '{path}' could not be read as a torch.save'd state dict ({e.Message}). " +
                "Save it with torch.save(model.state_dict(), path) (zip format, PyTorch ≥ 1.6) or as .safetensors.", e);
        }
    }
}

/// <summary>A minimal .safetensors reader: 8-byte little-endian header length, JSON header, raw tensors.</summary>
internal static class SafetensorsReader
{
    internal static Dictionary<string, Tensor> Read(string path)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            var bytes = File.ReadAllBytes(path);
            if (bytes.Length < 8) throw new FormatException("file shorter than its 8-byte header length");
            ulong headerLength = BitConverter.ToUInt64(bytes, 0);
            if (headerLength > (ulong)(bytes.Length - 8)) throw new FormatException($"header length {headerLength} exceeds the file");
            int dataStart = 8 + (int)headerLength;
            using var header = JsonDocument.Parse(bytes.AsMemory(8, (int)headerLength));
            foreach (var entry in header.RootElement.EnumerateObject())
            {
                if (entry.Name == "__metadata__") continue;
                var dtype = entry.Value.GetProperty("dtype").GetString() switch
                {
                    "F32" => ScalarType.Float32,
                    "F64" => ScalarType.Float64,
                    "F16" => ScalarType.Float16,
                    "BF16" => ScalarType.BFloat16,
                    "I64" => ScalarType.Int64,
                    "I32" => ScalarType.Int32,
                    var other => throw new FormatException($"tensor '{entry.Name}' has unsupported dtype {other}"),
                };
                var shape = entry.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
                var offsets = entry.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
                long begin = dataStart + offsets[0], end = dataStart + offsets[1];
                if (offsets.Length != 2 || begin > end || end > bytes.Length)
                    throw new FormatException($"tensor '{entry.Name}' has data_offsets outside the file");
                var t = empty(shape, dtype: dtype);
                if (t.NumberOfElements * t.ElementSize != end - begin)
                {
                    t.Dispose();
                    throw new FormatException($"tensor '{entry.Name}' has {end - begin} bytes for shape [{string.Join(", ", shape)}]");
                }
                t.bytes = bytes.AsSpan((int)begin, (int)(end - begin));
                result[entry.Name] = t;
            }
            return result;
        }
        catch (Exception e) when (e is FormatException or JsonException or KeyNotFoundException or InvalidOperationException)
        {
            foreach (var t in result.Values) t.Dispose();
            throw new HpfDetException($"Safetensors file '{path}' is not valid ({e.Message}); re-export it with safetensors.torch.save_file.", e);
        }
    }
}
