using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HpfDet.Models.Backbones;

/// <summary>
/// The residual structure recovered from an ONNX ResNet graph by topology (producers of each tensor),
/// independent of node and initializer names, and its matching onto a <see cref="ResNet"/>.
/// </summary>
internal sealed class ResNetOnnxImportPlan
{
    /// <summary>A Conv followed by BatchNormalization: weight, then scale, bias, mean, variance.</summary>
    internal sealed record ConvNorm(OnnxNode Conv, OnnxNode Norm, string Input);

    internal sealed record Block(IReadOnlyList<ConvNorm> MainBranch, ConvNorm? Shortcut);

    readonly OnnxGraph graph;
    readonly string path;
    readonly Dictionary<string, OnnxNode> producers = new(StringComparer.Ordinal);
    readonly Dictionary<string, List<OnnxNode>> consumers = new(StringComparer.Ordinal);

    internal ConvNorm Stem { get; }
    internal IReadOnlyList<Block> Blocks { get; }

    internal ResNetOnnxImportPlan(OnnxGraph graph, string path)
    {
        this.graph = graph;
        this.path = path;
        foreach (var node in graph.Nodes)
        {
            foreach (var output in node.Outputs) producers[output] = node;
            foreach (var input in node.Inputs)
            {
                if (!consumers.TryGetValue(input, out var list)) consumers[input] = list = [];
                list.Add(node);
            }
        }

        var dataInputs = graph.Inputs.Where(i => !graph.Initializers.ContainsKey(i)).ToHashSet(StringComparer.Ordinal);
        var stemConv = graph.Nodes.FirstOrDefault(n => n.OpType == "Conv" && n.Inputs.Count > 0 && dataInputs.Contains(n.Inputs[0]))
            ?? throw Error("no Conv node reads the graph input, so the stem convolution cannot be found");
        var stemNorm = consumers.GetValueOrDefault(stemConv.Outputs[0])?.FirstOrDefault(n => n.OpType == "BatchNormalization")
            ?? throw Error($"the stem Conv '{stemConv.Name}' is not followed by BatchNormalization");
        Stem = new ConvNorm(stemConv, stemNorm, stemConv.Inputs[0]);

        var blocks = new List<Block>();
        foreach (var add in graph.Nodes.Where(n => n.OpType is "Add" or "Sum"))
        {
            if (add.Inputs.Count != 2) throw Error($"Add node '{add.Name}' has {add.Inputs.Count} inputs, expected 2");
            var a = TraceMainBranch(add.Inputs[0]);
            var b = TraceMainBranch(add.Inputs[1]);
            // The main branch is the longer Conv-BN chain; the other input is the shortcut.
            var (main, other) = (a?.Count ?? 0) >= (b?.Count ?? 0) ? (a, add.Inputs[1]) : (b, add.Inputs[0]);
            if (main is null || main.Count < 2)
                throw Error($"Add node '{add.Name}' has no Conv→BN→Relu→Conv→BN branch: not a ResNet residual block");
            var blockInput = main[0].Input;
            ConvNorm? shortcut = null;
            if (other != blockInput)
            {
                shortcut = ConvNormProducing(other);
                if (shortcut is null || shortcut.Input != blockInput)
                    throw Error($"the shortcut of Add node '{add.Name}' is neither the block input nor a Conv→BN of it");
            }
            blocks.Add(new Block(main, shortcut));
        }
        if (blocks.Count == 0) throw Error("the graph has no Add nodes, so no residual blocks");
        Blocks = blocks;
    }

    /// <summary>Pairs every model tensor with its ONNX initializer; throws listing every mismatch.</summary>
    internal List<(Tensor Target, OnnxInitializer Source, string Where)> Match(ResNet model)
    {
        var errors = new List<string>();
        var assignments = new List<(Tensor, OnnxInitializer, string)>();
        var modelBlocks = model.Blocks.ToList();
        if (model.Options.Depth != ResNetDepth.R18 && model.Options.Depth != ResNetDepth.R34)
            errors.Add($"the model is a ResNet-{(int)model.Options.Depth} (Bottleneck blocks) but the file holds BasicBlocks");
        if (modelBlocks.Count != Blocks.Count)
            errors.Add($"the file has {Blocks.Count} residual blocks, the model {modelBlocks.Count} (blocks per stage " +
                       $"[{string.Join(", ", model.BlocksPerStage)}]); build it with BlocksPerStage = [{string.Join(", ", PretrainedWeights.ImageNetOnnxBlocksPerStage)}] " +
                       "(ResNet.FromImageNetOnnx does)");
        if (errors.Count > 0) throw Error(string.Join("; ", errors));

        AddPair(model.Stem, Stem, "conv1/bn1", assignments, errors);
        int index = 0;
        foreach (var (stage, count) in model.BlocksPerStage.Select((c, s) => (s + 1, c)))
        {
            for (int b = 0; b < count; b++, index++)
            {
                var mine = modelBlocks[index];
                var theirs = Blocks[index];
                var where = $"layer{stage}.{b}";
                if (mine.MainBranch.Count != theirs.MainBranch.Count)
                {
                    errors.Add($"{where}: {theirs.MainBranch.Count} convolutions in the file's main branch, {mine.MainBranch.Count} in the model");
                    continue;
                }
                for (int i = 0; i < mine.MainBranch.Count; i++)
                    AddPair(mine.MainBranch[i], theirs.MainBranch[i], $"{where}.conv{i + 1}/bn{i + 1}", assignments, errors);
                if (mine.Shortcut is { } ms && theirs.Shortcut is { } ts)
                    AddPair(ms, ts, $"{where}.downsample", assignments, errors);
                else if (mine.Shortcut is not null || theirs.Shortcut is not null)
                    errors.Add($"{where}: the file's block has {(theirs.Shortcut is null ? "an identity" : "a projection")} shortcut, the model's {(mine.Shortcut is null ? "an identity" : "a projection")}");
            }
        }
        if (errors.Count > 0) throw Error($"{errors.Count} tensors do not map: {string.Join("; ", errors.Take(20))}{(errors.Count > 20 ? "; …" : "")}");

        var used = assignments.Select(a => a.Item2.Name).ToHashSet(StringComparer.Ordinal);
        var unused = graph.Initializers.Keys.Where(k => !used.Contains(k)).ToList();
        if (unused.Count > 0)
            throw Error($"{unused.Count} initializers were not mapped onto the model ({string.Join(", ", unused.Take(20))}): the graph has layers the ResNet lacks");
        return assignments;
    }

    void AddPair((Conv2d Conv, BatchNorm2d Norm) mine, ConvNorm theirs, string where,
        List<(Tensor, OnnxInitializer, string)> assignments, List<string> errors)
    {
        var (conv, norm) = mine;
        var strides = theirs.Conv.Ints("strides");
        long modelStride = conv.stride?[0] ?? 1;
        if (strides.Length > 0 && strides.Any(s => s != modelStride))
            errors.Add($"{where}: stride [{string.Join(", ", strides)}] in the file, {modelStride} in the model");
        if (theirs.Conv.Inputs.Count > 2 || conv.bias is not null)
            errors.Add($"{where}: convolution bias is not supported (the file's conv has {theirs.Conv.Inputs.Count - 2} bias input)");
        var eps = theirs.Norm.Float("epsilon") ?? 1e-5f;
        if (Math.Abs(eps - norm.eps) > 1e-7)
            errors.Add($"{where}: BatchNormalization epsilon {eps} in the file, {norm.eps} in the model");
        if (theirs.Norm.Inputs.Count != 5)
        {
            errors.Add($"{where}: BatchNormalization '{theirs.Norm.Name}' has {theirs.Norm.Inputs.Count} inputs, expected 5");
            return;
        }
        Add(conv.weight!, theirs.Conv.Inputs[1], $"{where} conv weight");
        Add(norm.weight!, theirs.Norm.Inputs[1], $"{where} bn weight");
        Add(norm.bias!, theirs.Norm.Inputs[2], $"{where} bn bias");
        Add(norm.running_mean!, theirs.Norm.Inputs[3], $"{where} bn running_mean");
        Add(norm.running_var!, theirs.Norm.Inputs[4], $"{where} bn running_var");

        void Add(Tensor target, string initializer, string what)
        {
            if (!graph.Initializers.TryGetValue(initializer, out var source))
            {
                errors.Add($"{what}: '{initializer}' is not an initializer");
                return;
            }
            if (!source.Dims.SequenceEqual(target.shape))
            {
                errors.Add($"{what}: '{initializer}' has shape [{string.Join(", ", source.Dims)}], the model [{string.Join(", ", target.shape)}]");
                return;
            }
            assignments.Add((target, source, what));
        }
    }

    /// <summary>The Conv→BN(→Relu→Conv→BN)… chain ending at <paramref name="tensor"/>, first pair first; null if none.</summary>
    List<ConvNorm>? TraceMainBranch(string tensor)
    {
        var last = ConvNormProducing(tensor);
        if (last is null) return null;
        var chain = new List<ConvNorm> { last };
        while (producers.TryGetValue(chain[0].Input, out var relu) && relu.OpType == "Relu"
               && ConvNormProducing(relu.Inputs[0]) is { } previous)
            chain.Insert(0, previous);
        return chain;
    }

    ConvNorm? ConvNormProducing(string tensor)
    {
        if (!producers.TryGetValue(tensor, out var norm) || norm.OpType != "BatchNormalization") return null;
        if (!producers.TryGetValue(norm.Inputs[0], out var conv) || conv.OpType != "Conv") return null;
        return new ConvNorm(conv, norm, conv.Inputs[0]);
    }

    HpfDetException Error(string what) =>
        new($"ONNX file '{path}' cannot be loaded into the ResNet: {what}.");
}
