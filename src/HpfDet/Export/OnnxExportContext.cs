using HpfDet.Models.Backbones;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HpfDet.Export;

/// <summary>
/// Exports one module into the graph: receives the names of its input values and returns the names
/// of its output values (in the module's forward order). <paramref name="path"/> is the module's
/// dotted path in the detector ("backbone.layer2.0"), used for value names and error messages.
/// </summary>
public delegate IReadOnlyList<string> OnnxModuleExport(OnnxExportContext context, nn.Module module, string path, IReadOnlyList<string> inputs);

/// <summary>
/// The state of one export: the graph builder, the registry of module exporters (looked up by the
/// module's exact type) and the shared conversions (weights to initializers, BatchNorm folding).
/// </summary>
public sealed class OnnxExportContext
{
    readonly IReadOnlyDictionary<Type, OnnxModuleExport> exporters;

    public OnnxExportContext(OnnxGraphBuilder graph, IReadOnlyDictionary<Type, OnnxModuleExport> exporters)
    {
        Graph = graph;
        this.exporters = exporters;
    }

    public OnnxGraphBuilder Graph { get; }

    readonly Dictionary<string, string> shared = new(StringComparer.Ordinal);

    /// <summary>
    /// The value created once under <paramref name="key"/>: a module applied to several pyramid levels
    /// (the shared head) writes its weights once and every level's node reads them.
    /// </summary>
    public string Shared(string key, Func<string> create)
    {
        if (!shared.TryGetValue(key, out var name)) shared[key] = name = create();
        return name;
    }

    /// <summary>Exports <paramref name="module"/> with the exporter of its type; a type without one is a clear error naming it.</summary>
    public IReadOnlyList<string> Export(nn.Module module, string path, IReadOnlyList<string> inputs)
    {
        if (!exporters.TryGetValue(module.GetType(), out var export))
            throw new HpfDetException(
                $"ONNX export: module '{path}' is a {module.GetType().Name}, which has no ONNX exporter yet " +
                $"(exportable module types: {string.Join(", ", exporters.Keys.Select(k => k.Name).Order(StringComparer.Ordinal))}).");
        return export(this, module, path, inputs);
    }

    /// <summary>Exports a module with one input and one output.</summary>
    public string Export(nn.Module module, string path, string input) => Single(Export(module, path, [input]), path);

    /// <summary>The child modules of <paramref name="module"/> by name.</summary>
    public static IReadOnlyDictionary<string, nn.Module> Children(nn.Module module) =>
        module.named_children().ToDictionary(c => c.name, c => c.module, StringComparer.Ordinal);

    /// <summary>A named child that must exist (a missing one means the module changed shape: an exporter bug, stated clearly).</summary>
    public static nn.Module Child(nn.Module module, string name, string path) =>
        Children(module).TryGetValue(name, out var child) ? child
            : throw new HpfDetException($"ONNX export: module '{path}' ({module.GetType().Name}) has no child '{name}'.");

    static string Single(IReadOnlyList<string> outputs, string path) =>
        outputs.Count == 1 ? outputs[0] : throw new HpfDetException($"ONNX export: module '{path}' gives {outputs.Count} outputs where one is expected.");

    /// <summary>A tensor's values as float32, row-major.</summary>
    public static float[] Values(Tensor t)
    {
        using var c = t.detach().cpu().to(ScalarType.Float32).contiguous();
        return c.data<float>().ToArray();
    }

    /// <summary>A 2-D convolution node from weights [O, I/groups, kH, kW] and an optional bias [O].</summary>
    public string Conv(string input, string path, float[] weight, long[] weightShape, float[]? bias, long[] stride, long[] padding, long[]? dilation = null, long groups = 1)
    {
        static long[] Pair(long[] v) => v.Length == 1 ? [v[0], v[0]] : v;
        (stride, padding, dilation) = (Pair(stride), Pair(padding), Pair(dilation ?? [1L]));
        var w = Shared(path + ".weight", () => Graph.Floats(path + ".weight", weight, weightShape));
        var inputs = new List<string> { input, w };
        if (bias is not null) inputs.Add(Shared(path + ".bias", () => Graph.Floats(path + ".bias", bias, weightShape[0])));
        return Graph.Op("Conv", path, inputs,
            ("kernel_shape", new[] { weightShape[2], weightShape[3] }),
            ("strides", stride),
            ("pads", new[] { padding[0], padding[1], padding[0], padding[1] }),
            ("dilations", dilation),
            ("group", groups));
    }

    /// <summary>A TorchSharp Conv2d as a Conv node (zero padding only).</summary>
    public string Conv(string input, string path, Conv2d conv)
    {
        CheckZeroPadding(conv, path);
        return Conv(input, path, Values(conv.weight!), conv.weight!.shape, conv.bias is null ? null : Values(conv.bias),
            conv.stride, conv.padding ?? [0L, 0L], conv.dilation, conv.groups);
    }

    /// <summary>
    /// A convolution followed by an eval-mode BatchNorm, folded into one Conv node:
    /// W' = W·γ/√(σ²+ε) per output channel, b' = (b − μ)·γ/√(σ²+ε) + β, computed in float64.
    /// </summary>
    public string ConvBatchNorm(string input, string path, Conv2d conv, BatchNorm2d norm)
    {
        CheckZeroPadding(conv, path);
        var (foldedW, foldedB) = FoldedConvNorm.FoldFloat64(conv, norm, $"ONNX export of '{path}'");
        using (foldedW)
        using (foldedB)
            return Conv(input, path, Values(foldedW), conv.weight!.shape, Values(foldedB), conv.stride, conv.padding ?? [0L, 0L], conv.dilation, conv.groups);
    }

    public string Relu(string input, string path) => Graph.Op("Relu", path + ".relu", [input]);

    static void CheckZeroPadding(Conv2d conv, string path)
    {
        if (conv.padding_mode != PaddingModes.Zeros || conv.padding_type is not null || conv.transposed)
            throw new HpfDetException($"ONNX export: convolution '{path}' uses {(conv.transposed ? "a transposed convolution" : $"padding {conv.padding_mode}/{conv.padding_type}")}, which the exporter does not write (zero padding with explicit sizes only).");
    }
}
