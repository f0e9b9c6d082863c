using HpfDet.Models;
using HpfDet.Models.Backbones;
using HpfDet.Models.Heads;
using HpfDet.Models.Necks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HpfDet.Export;

/// <summary>
/// The ONNX exporter of each module type the detectors are built from. A detector's graph is the
/// composition of its modules' exports; a module of a type missing here fails the export with its
/// path and type named (see <see cref="OnnxExportContext.Export(nn.Module, string, IReadOnlyList{string})"/>).
/// </summary>
public static class OnnxModuleExporters
{
    /// <summary>The exporters by exact module type.</summary>
    public static IReadOnlyDictionary<Type, OnnxModuleExport> Default { get; } = new Dictionary<Type, OnnxModuleExport>
    {
        [typeof(Conv2d)] = (ctx, m, path, x) => [ctx.Conv(One(x, path), path, (Conv2d)m)],
        [typeof(ReLU)] = (ctx, m, path, x) => [ctx.Relu(One(x, path), path)],
        [typeof(MaxPool2d)] = (ctx, m, path, x) => [MaxPool(ctx, (MaxPool2d)m, path, One(x, path))],
        [typeof(GroupNorm)] = (ctx, m, path, x) => [GroupNorm(ctx, (GroupNorm)m, path, One(x, path))],
        [typeof(Sequential)] = Sequential,
        [typeof(PaddedOutputConv2d)] = (ctx, m, path, x) => [PaddedConv(ctx, (PaddedOutputConv2d)m, path, One(x, path))],
        [typeof(BasicBlock)] = (ctx, m, path, x) => [ResidualBlock(ctx, (IResNetBlock)m, path, One(x, path))],
        [typeof(Bottleneck)] = (ctx, m, path, x) => [ResidualBlock(ctx, (IResNetBlock)m, path, One(x, path))],
        [typeof(ResNet)] = (ctx, m, path, x) => ResNetStages(ctx, (ResNet)m, path, One(x, path)),
        [typeof(Fpn)] = (ctx, m, path, x) => FpnLevels(ctx, (Fpn)m, path, x),
        [typeof(AtssHead)] = (ctx, m, path, x) => AtssHeadLevels(ctx, (AtssHead)m, path, x),
        [typeof(RetinaNetHead)] = (ctx, m, path, x) => RetinaNetHeadLevels(ctx, (RetinaNetHead)m, path, x),
        [typeof(FcosHead)] = (ctx, m, path, x) => FcosHeadLevels(ctx, (FcosHead)m, path, x),
    };

    static string One(IReadOnlyList<string> inputs, string path) =>
        inputs.Count == 1 ? inputs[0] : throw new HpfDetException($"ONNX export: module '{path}' takes one input, got {inputs.Count}.");

    static IReadOnlyList<string> Sequential(OnnxExportContext ctx, nn.Module module, string path, IReadOnlyList<string> inputs)
    {
        var x = inputs;
        foreach (var (name, child) in module.named_children())
            x = ctx.Export(child, $"{path}.{name}", x);
        return x;
    }

    static string MaxPool(OnnxExportContext ctx, MaxPool2d pool, string path, string x)
    {
        if (pool.dilation is { } d && d.Any(v => v != 1))
            throw new HpfDetException($"ONNX export: max pooling '{path}' is dilated, which the exporter does not write.");
        var k = Pair(pool.kernel_size);
        var p = Pair(pool.padding ?? [0]);
        return ctx.Graph.Op("MaxPool", path, [x],
            ("kernel_shape", k),
            ("strides", Pair(pool.stride ?? pool.kernel_size)),
            ("pads", new[] { p[0], p[1], p[0], p[1] }),
            ("ceil_mode", pool.ceil_mode ? 1L : 0L));
    }

    static long[] Pair(long[] v) => v.Length == 1 ? [v[0], v[0]] : v;

    /// <summary>
    /// GroupNorm as InstanceNormalization over [N, G, C/G·H·W] (normalisation per group, as GroupNorm
    /// does), reshaped back, then the per-channel affine transform; valid for every opset from 13.
    /// </summary>
    static string GroupNorm(OnnxExportContext ctx, GroupNorm norm, string path, string x)
    {
        var g = ctx.Graph;
        long groups = norm.num_groups;
        var grouped = g.Op("Reshape", path + ".grouped", [x, ctx.Shared("shape.0.groups.-1." + groups, () => g.Int64Vector($"groups{groups}_shape", 0, groups, -1))]);
        var unitScale = ctx.Shared("ones." + groups, () => g.Floats($"ones{groups}", Enumerable.Repeat(1f, (int)groups).ToArray(), groups));
        var zeroBias = ctx.Shared("zeros." + groups, () => g.Floats($"zeros{groups}", new float[groups], groups));
        var normalised = g.Op("InstanceNormalization", path + ".normalised", [grouped, unitScale, zeroBias], ("epsilon", (float)norm.eps));
        var restored = g.Op("Reshape", path + ".restored", [normalised, g.Op("Shape", path + ".shape", [x])]);
        if (!norm.affine || norm.weight is null || norm.bias is null) return restored;
        long c = norm.weight.shape[0];
        var weight = ctx.Shared(path + ".weight", () => g.Floats(path + ".weight", OnnxExportContext.Values(norm.weight), c, 1, 1));
        var bias = ctx.Shared(path + ".bias", () => g.Floats(path + ".bias", OnnxExportContext.Values(norm.bias), c, 1, 1));
        return g.Op("Add", path, [g.Op("Mul", path + ".scaled", [restored, weight]), bias]);
    }

    /// <summary>The predictor convolution: a plain stride-1 "same" convolution (its channel padding is a libtorch workaround only).</summary>
    static string PaddedConv(OnnxExportContext ctx, PaddedOutputConv2d conv, string path, string x)
    {
        var shape = conv.Weight.shape;
        long pad = shape[2] / 2;
        return ctx.Conv(x, path, OnnxExportContext.Values(conv.Weight), shape, OnnxExportContext.Values(conv.Bias), [1, 1], [pad, pad]);
    }

    /// <summary>A residual block: main-branch conv+BN pairs (folded) with ReLU between them, plus the shortcut, then ReLU.</summary>
    static string ResidualBlock(OnnxExportContext ctx, IResNetBlock block, string path, string x)
    {
        var main = block.MainBranch;
        var y = x;
        for (int i = 0; i < main.Count; i++)
        {
            y = ctx.ConvBatchNorm(y, $"{path}.conv{i + 1}", main[i].Conv, main[i].Norm);
            if (i < main.Count - 1) y = ctx.Relu(y, $"{path}.conv{i + 1}");
        }
        var identity = block.Shortcut is { } s ? ctx.ConvBatchNorm(x, $"{path}.downsample", s.Conv, s.Norm) : x;
        return ctx.Relu(ctx.Graph.Op("Add", path + ".add", [y, identity]), path);
    }

    /// <summary>ResNet: stem (conv1+bn1 folded, ReLU, max pool), layer1..layer4; outputs C3, C4, C5.</summary>
    static IReadOnlyList<string> ResNetStages(OnnxExportContext ctx, ResNet resnet, string path, string x)
    {
        var (conv, norm) = resnet.Stem;
        var y = ctx.Relu(ctx.ConvBatchNorm(x, path + ".conv1", conv, norm), path + ".conv1");
        y = ctx.Export(OnnxExportContext.Child(resnet, "maxpool", path), path + ".maxpool", y);
        var taps = new List<string>();
        for (int s = 1; s <= 4; s++)
        {
            y = ctx.Export(OnnxExportContext.Child(resnet, $"layer{s}", path), $"{path}.layer{s}", y);
            if (s >= 2) taps.Add(y);
        }
        return taps;
    }

    /// <summary>FPN: laterals, top-down nearest upsampling to each finer lateral's size, output convs, extra levels.</summary>
    static IReadOnlyList<string> FpnLevels(OnnxExportContext ctx, Fpn fpn, string path, IReadOnlyList<string> inputs)
    {
        var g = ctx.Graph;
        var o = fpn.Options;
        int levels = o.InChannels.Length;
        if (inputs.Count != levels)
            throw new HpfDetException($"ONNX export: '{path}' expects {levels} feature maps, got {inputs.Count}.");
        var lateral = (ModuleList<Conv2d>)OnnxExportContext.Child(fpn, "lateral_convs", path);
        var output = (ModuleList<Conv2d>)OnnxExportContext.Child(fpn, "fpn_convs", path);
        var laterals = new string[levels];
        for (int i = 0; i < levels; i++)
            laterals[i] = ctx.Conv(inputs[i], $"{path}.lateral_convs.{i}", lateral[i]);
        for (int i = levels - 1; i > 0; i--)
        {
            // libtorch's nearest mode reads source index floor(dst · in / out): ONNX's asymmetric + floor.
            var size = g.Op("Shape", $"{path}.lateral{i - 1}.shape", [laterals[i - 1]]);
            var up = g.Op("Resize", $"{path}.upsample{i}", [laterals[i], "", "", size],
                ("mode", "nearest"), ("coordinate_transformation_mode", "asymmetric"), ("nearest_mode", "floor"));
            laterals[i - 1] = g.Op("Add", $"{path}.topdown{i - 1}", [laterals[i - 1], up]);
        }
        var outputs = new List<string>();
        for (int i = 0; i < levels; i++)
            outputs.Add(ctx.Conv(laterals[i], $"{path}.fpn_convs.{i}", output[i]));
        for (int i = levels; i < o.NumOutputs; i++)
        {
            if (!o.ExtraConvsOnOutput)
            {
                outputs.Add(g.Op("MaxPool", $"{path}.extra{i}", [outputs[^1]], ("kernel_shape", new[] { 1L, 1L }), ("strides", new[] { 2L, 2L })));
                continue;
            }
            var source = i > levels && o.ReluBeforeExtraConvs ? ctx.Relu(outputs[^1], $"{path}.extra{i}") : outputs[^1];
            outputs.Add(ctx.Conv(source, $"{path}.fpn_convs.{i}", output[i]));
        }
        return outputs;
    }

    /// <summary>
    /// The ATSS head on every level, its convolutions shared across levels: outputs are the class
    /// logits of all levels, then the scaled box deltas, then the centerness logits (3·L values).
    /// </summary>
    static IReadOnlyList<string> AtssHeadLevels(OnnxExportContext ctx, AtssHead head, string path, IReadOnlyList<string> features)
    {
        var g = ctx.Graph;
        if (features.Count != head.Options.NumLevels)
            throw new HpfDetException($"ONNX export: '{path}' expects {head.Options.NumLevels} levels, got {features.Count}.");
        var clsConvs = OnnxExportContext.Child(head, "cls_convs", path).named_children().ToList();
        var regConvs = OnnxExportContext.Child(head, "reg_convs", path).named_children().ToList();
        var clsPredictor = OnnxExportContext.Child(head, "atss_cls", path);
        var regPredictor = OnnxExportContext.Child(head, "atss_reg", path);
        var ctrPredictor = OnnxExportContext.Child(head, "atss_centerness", path);
        var scales = head.named_parameters().Where(p => p.name.StartsWith("scales.", StringComparison.Ordinal))
            .ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
        var cls = new List<string>();
        var reg = new List<string>();
        var ctr = new List<string>();
        for (int l = 0; l < features.Count; l++)
        {
            var c = features[l];
            foreach (var (name, m) in clsConvs) c = ctx.Export(m, $"{path}.cls_convs.{name}", c);
            var r = features[l];
            foreach (var (name, m) in regConvs) r = ctx.Export(m, $"{path}.reg_convs.{name}", r);
            cls.Add(ctx.Export(clsPredictor, $"{path}.atss_cls", c));
            if (!scales.TryGetValue($"scales.{l}", out var scale))
                throw new HpfDetException($"ONNX export: '{path}' has no regression scale for level {l}.");
            var scaleValue = g.Floats($"{path}.scales.{l}", OnnxExportContext.Values(scale), 1);
            reg.Add(g.Op("Mul", $"{path}.reg{l}", [ctx.Export(regPredictor, $"{path}.atss_reg", r), scaleValue]));
            ctr.Add(ctx.Export(ctrPredictor, $"{path}.atss_centerness", r));
        }
        return [.. cls, .. reg, .. ctr];
    }

    /// <summary>
    /// A torchvision-style head branch on one level: its stacked convs ("conv", a Sequential of conv,
    /// optional GroupNorm and ReLU blocks) shared across levels, then each named predictor on their output.
    /// </summary>
    static string[] BranchLevel(OnnxExportContext ctx, nn.Module branch, string path, string feature, params string[] predictors)
    {
        var x = ctx.Export(OnnxExportContext.Child(branch, "conv", path), path + ".conv", feature);
        return predictors.Select(p => ctx.Export(OnnxExportContext.Child(branch, p, path), $"{path}.{p}", x)).ToArray();
    }

    /// <summary>
    /// The RetinaNet head (with or without GroupNorm) on every level, its convolutions shared across
    /// levels: outputs are the class logits of all levels, then the box deltas (2·L values).
    /// </summary>
    static IReadOnlyList<string> RetinaNetHeadLevels(OnnxExportContext ctx, RetinaNetHead head, string path, IReadOnlyList<string> features)
    {
        var classification = OnnxExportContext.Child(head, "classification_head", path);
        var regression = OnnxExportContext.Child(head, "regression_head", path);
        var cls = features.Select(f => BranchLevel(ctx, classification, path + ".classification_head", f, "cls_logits")[0]).ToList();
        var reg = features.Select(f => BranchLevel(ctx, regression, path + ".regression_head", f, "bbox_reg")[0]).ToList();
        return [.. cls, .. reg];
    }

    /// <summary>
    /// The FCOS head on every level, its convolutions shared across levels: outputs are the class logits
    /// of all levels, then the (l, t, r, b) regression after its ReLU, then the centerness logits (3·L values).
    /// </summary>
    static IReadOnlyList<string> FcosHeadLevels(OnnxExportContext ctx, FcosHead head, string path, IReadOnlyList<string> features)
    {
        var classification = OnnxExportContext.Child(head, "classification_head", path);
        var regression = OnnxExportContext.Child(head, "regression_head", path);
        var cls = new List<string>();
        var reg = new List<string>();
        var ctr = new List<string>();
        foreach (var f in features)
        {
            cls.Add(BranchLevel(ctx, classification, path + ".classification_head", f, "cls_logits")[0]);
            var r = BranchLevel(ctx, regression, path + ".regression_head", f, "bbox_reg", "bbox_ctrness");
            reg.Add(ctx.Relu(r[0], path + ".regression_head.bbox_reg"));
            ctr.Add(r[1]);
        }
        return [.. cls, .. reg, .. ctr];
    }
}
