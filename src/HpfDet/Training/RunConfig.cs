using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using HpfDet.Data;
using HpfDet.Data.Transforms;
using HpfDet.Losses;
using HpfDet.Models;
using HpfDet.Models.Backbones;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace HpfDet.Training;

/// <summary>Where the data comes from.</summary>
public sealed class DataConfig
{
    /// <summary>Dataset path (VOC root, YOLO data.yaml or folder, COCO annotation JSON), or "synthetic".</summary>
    public string Path { get; set; } = "synthetic";
    /// <summary>voc, coco, yolo or synthetic.</summary>
    public string Format { get; set; } = "synthetic";
    public string TrainSplit { get; set; } = "train";
    public string ValSplit { get; set; } = "val";
    /// <summary>COCO image folder (default: the JSON's folder).</summary>
    public string? Images { get; set; }
    /// <summary>Fixed class list (VOC): names outside it are reported. Default: the dataset's labels.txt/classes.txt, else the names found.</summary>
    public List<string>? Classes { get; set; }
    public int SyntheticCount { get; set; } = 200;
    public int SyntheticValCount { get; set; } = 50;
    public int SyntheticSize { get; set; } = 320;
    public int Workers { get; set; } = 2;
}

/// <summary>The detector.</summary>
public sealed class ModelConfig
{
    /// <summary>A registered model name: family-depth (atss-r18, retinanet-r50, fcos-r18, ...; see <see cref="DetectorRegistry.Names"/>).</summary>
    public string Name { get; set; } = DetectorRegistry.Names[0];
    /// <summary>ImageNet ResNet-18 weights from the bundled ONNX file (r18 models).</summary>
    public bool Pretrained { get; set; } = true;
    /// <summary>Optional torchvision state dict (.pth/.safetensors) for the backbone.</summary>
    public string? BackboneWeights { get; set; }
    public int FrozenStages { get; set; } = 1;
    public bool NormEval { get; set; } = true;
    /// <summary>false: the backbone's BatchNorm weights and biases do not train (YOLOF's reference recipe).</summary>
    public bool BackboneNormTrainable { get; set; } = true;
    public int FpnChannels { get; set; } = 256;
    public int HeadChannels { get; set; } = 256;
    public int HeadConvs { get; set; } = 4;
    /// <summary>GroupNorm groups of the head; null: the detector's reference (ATSS and FCOS 32; RetinaNet has none).</summary>
    public int? HeadGroups { get; set; }
    /// <summary>
    /// Multiplies every anchor side (anchor-based detectors only); null keeps the detector's own anchors, which
    /// are sized for 800-px inputs: for a smaller input, e.g. 320 px, 320/800 = 0.4 keeps anchors and objects alike.
    /// </summary>
    public double? AnchorScale { get; set; }
}

/// <summary>The classification loss and its hyperparameters.</summary>
public sealed class LossConfig
{
    /// <summary>One of <see cref="LossNames.All"/>.</summary>
    public string Name { get; set; } = LossNames.Hpf;
    /// <summary>Focal γ (fl), γ0 (hpf) or γ (vfl).</summary>
    public double Gamma { get; set; } = 2.0;
    /// <summary>Focal α (fl) or VFL α (default 0.75 for vfl when left at 0.25).</summary>
    public double Alpha { get; set; } = 0.25;
    /// <summary>HPF δ.</summary>
    public double Delta { get; set; } = 0.5;
    /// <summary>HPF w in α = w/γ.</summary>
    public double W { get; set; } = 0.5;
    /// <summary>HPF scope: per_level or all_levels.</summary>
    public string Scope { get; set; } = "per_level";
    /// <summary>QFL β.</summary>
    public double Beta { get; set; } = 2.0;
}

/// <summary>The schedule and augmentation.</summary>
public sealed class TrainConfig
{
    public int Epochs { get; set; } = 12;
    public int Batch { get; set; } = 4;
    public double Lr { get; set; } = 0.01;
    public double Momentum { get; set; } = 0.9;
    public double WeightDecay { get; set; } = 1e-4;
    /// <summary>Learning-rate multiplier of the backbone's parameters (mmdetection's paramwise lr_mult; YOLOF's reference: 1/3).</summary>
    public double BackboneLrMult { get; set; } = 1.0;
    public int WarmupIters { get; set; } = 500;
    public double WarmupRatio { get; set; } = 0.001;
    public List<int>? DecayEpochs { get; set; }
    public double? GradClip { get; set; }
    public int EvalEvery { get; set; } = 1;
    /// <summary>Epochs between checkpoints (0: only the last and an interrupted run's).</summary>
    public int CheckpointEvery { get; set; } = 1;
    public int Seed { get; set; } = 0;
    public int? MaxIters { get; set; }
    /// <summary>Short side of the training (and test) scale.</summary>
    public int Scale { get; set; } = 512;
    /// <summary>Longest side allowed after resizing.</summary>
    public int MaxSize { get; set; } = 853;
    /// <summary>Extra short sides for multi-scale training (empty: single scale).</summary>
    public List<int> MultiScale { get; set; } = [];
    public double Flip { get; set; } = 0.5;
    /// <summary>Largest random translation in pixels, applied to half the images (YOLOF's RandomShift: 32); 0: off.</summary>
    public int RandomShift { get; set; }
    public bool Photometric { get; set; }
    public int LogEvery { get; set; } = 1;
    /// <summary>fp32, or bf16: bfloat16 convolutions with float32 master weights (<see cref="BFloat16Training"/>).</summary>
    public string Precision { get; set; } = "fp32";
}

/// <summary>Post-processing at test time; null values take the detector's reference (score 0.05, top 1000, NMS 0.6 for ATSS/FCOS and 0.5 for RetinaNet, 100 per image).</summary>
public sealed class TestConfig
{
    public double? ScoreThreshold { get; set; }
    public int? PreNmsTopK { get; set; }
    public double? NmsIou { get; set; }
    public int? MaxPerImage { get; set; }
}

/// <summary>
/// Every hyperparameter of a run, as one YAML file (snake_case keys, sections data/model/loss/train/test).
/// <see cref="Set"/> changes one dotted key ("train.lr") and names the closest valid keys for a typo.
/// </summary>
public sealed class RunConfig
{
    public DataConfig Data { get; set; } = new();
    public ModelConfig Model { get; set; } = new();
    public LossConfig Loss { get; set; } = new();
    public TrainConfig Train { get; set; } = new();
    public TestConfig Test { get; set; } = new();

    static readonly INamingConvention Naming = UnderscoredNamingConvention.Instance;

    /// <summary>Every settable key, dotted ("train.lr").</summary>
    public static IReadOnlyList<string> Keys { get; } = typeof(RunConfig).GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .SelectMany(section => section.PropertyType.GetProperties(BindingFlags.Public | BindingFlags.Instance).Select(p => $"{Naming.Apply(section.Name)}.{Naming.Apply(p.Name)}"))
        .ToList();

    /// <summary>Largest configuration file read (a configuration is a few hundred bytes).</summary>
    public const long MaxFileBytes = 1 << 20;

    /// <summary>Where each key's value came from ("FILE, line N", "--set key=value", "--lr"); keys absent keep their default.</summary>
    readonly Dictionary<string, string> origins = [];

    /// <summary>Records where <paramref name="key"/>'s value came from, for validation messages.</summary>
    public void NoteOrigin(string key, string where) => origins[key] = Shorten(where, 200);

    /// <summary>Where <paramref name="key"/>'s value came from ("default" when it was never set).</summary>
    public string OriginOf(string key) => origins.GetValueOrDefault(key, "default");

    /// <summary>
    /// Reads a YAML file: a mapping of sections (data, model, loss, train, test), each a mapping of keys to
    /// values or lists of values. Unknown keys, wrong shapes and unparsable values are errors naming the
    /// file, line and key; anchors and aliases are refused (their expansion is unbounded). Values are
    /// checked by <see cref="Validate"/>, which names the line each came from.
    /// </summary>
    public static RunConfig Load(string path)
    {
        if (Directory.Exists(path)) throw new HpfDetException($"Configuration file '{path}' is a folder; pass a YAML file (e.g. a run's config.yaml).");
        if (!File.Exists(path)) throw new HpfDetException($"Configuration file '{path}' not found.");
        string text;
        try
        {
            if (new FileInfo(path).Length > MaxFileBytes)
                throw new HpfDetException($"Configuration file '{path}' is larger than {MaxFileBytes / 1024} KiB; a configuration is a short YAML file (see a run's config.yaml).");
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new HpfDetException($"Configuration file '{path}' cannot be read ({e.Message}). Check that it is a readable file.", e);
        }
        var config = new RunConfig();
        var yaml = new YamlStream();
        try
        {
            RefuseAliases(text, path);
            yaml.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new HpfDetException($"{path}, line {e.Start.Line}: malformed YAML ({(e.InnerException?.Message ?? e.Message).ReplaceLineEndings(" ")}).", e);
        }
        catch (ArgumentException e)
        {
            // YamlDotNet reports a key repeated in one mapping this way.
            throw new HpfDetException($"{path}: malformed YAML ({e.Message.ReplaceLineEndings(" ")}); is a key written twice?", e);
        }
        if (yaml.Documents.Count == 0) return config;
        var rootNode = yaml.Documents[0].RootNode;
        if (rootNode is YamlScalarNode { Value: null or "" or "~" or "null" }) return config;   // an empty document
        if (rootNode is not YamlMappingNode root)
            throw new HpfDetException($"{path}, line {rootNode.Start.Line}: the configuration must be a mapping of sections (data, model, loss, train, test), not {NodeKind(rootNode)}.");
        foreach (var (sectionNode, body) in root.Children)
        {
            var section = ScalarKey(sectionNode, path, "a section name");
            string where = $"{path}, line {sectionNode.Start.Line}";
            if (!Sections.Contains(section))
            {
                var closest = Sections.OrderBy(k => Levenshtein(k, section)).First();
                throw new HpfDetException($"{where}: unknown configuration section '{section}'. Did you mean '{closest}'? Sections: {string.Join(", ", Sections)}.");
            }
            if (body is YamlScalarNode { Value: null or "" or "~" or "null" }) continue;   // "train:" with nothing under it
            if (body is not YamlMappingNode map)
                throw new HpfDetException($"{path}, line {body.Start.Line}: section '{section}' must be a mapping of its keys (indented 'key: value' lines, e.g. {Keys.First(k => k.StartsWith(section + ".", StringComparison.Ordinal))}), not {NodeKind(body)}.");
            foreach (var (keyNode, valueNode) in map.Children)
            {
                var key = $"{section}.{ScalarKey(keyNode, path, $"a key of section '{section}'")}";
                string value = valueNode switch
                {
                    YamlScalarNode s => s.Value ?? "",
                    YamlSequenceNode seq when seq.Children.All(c => c is YamlScalarNode) =>
                        "[" + string.Join(",", seq.Children.Select(c => ((YamlScalarNode)c).Value)) + "]",
                    YamlSequenceNode => throw new HpfDetException($"{path}, line {valueNode.Start.Line}: '{key}' must be a value or a flat list of values, not a list of lists or mappings."),
                    _ => throw new HpfDetException($"{path}, line {valueNode.Start.Line}: '{key}' must be a value or a list, not a mapping."),
                };
                config.Set(key, value, $"{path}, line {keyNode.Start.Line}");
            }
        }
        return config;
    }

    /// <summary>The sections of a configuration: data, model, loss, train, test.</summary>
    static readonly string[] Sections = typeof(RunConfig).GetProperties(BindingFlags.Public | BindingFlags.Instance).Select(p => Naming.Apply(p.Name)).ToArray();

    static string ScalarKey(YamlNode node, string path, string what) => node is YamlScalarNode { Value: { } v }
        ? v
        : throw new HpfDetException($"{path}, line {node.Start.Line}: expected {what} (a plain word), found {NodeKind(node)}.");

    static string NodeKind(YamlNode node) => node switch
    {
        YamlSequenceNode => "a list",
        YamlMappingNode => "a mapping",
        YamlScalarNode s => $"the value '{Shorten(s.Value ?? "")}'",
        _ => "an unsupported YAML node",
    };

    /// <summary>Text fit for a one-line message: line breaks and tabs written as \\n and \\t, at most <paramref name="max"/> characters.</summary>
    static string Shorten(string text, int max = 40)
    {
        text = text.ReplaceLineEndings("\\n").Replace("\t", "\\t");
        return text.Length <= max ? text : text[..max] + "...";
    }

    /// <summary>
    /// Scans the YAML events and refuses anchors and aliases before anything is built: a short file
    /// of nested aliases expands exponentially, and a configuration never needs them.
    /// </summary>
    static void RefuseAliases(string text, string path)
    {
        var parser = new Parser(new StringReader(text));
        long line = 1;
        while (true)
        {
            try
            {
                if (!parser.MoveNext()) break;
            }
            catch (InvalidOperationException)
            {
                // YamlDotNet's scanner fails this way on some unterminated flow collections ("key: {").
                throw new HpfDetException($"{path}, after line {line}: malformed YAML (an unclosed '[' or '{{', or a stray character?).");
            }
            line = parser.Current!.End.Line;
            switch (parser.Current)
            {
                case YamlDotNet.Core.Events.AnchorAlias alias:
                    throw new HpfDetException($"{path}, line {alias.Start.Line}: YAML aliases (*{alias.Value}) are not supported in a configuration file; write the value out.");
                case YamlDotNet.Core.Events.NodeEvent { Anchor.IsEmpty: false } node:
                    throw new HpfDetException($"{path}, line {node.Start.Line}: YAML anchors (&{node.Anchor}) are not supported in a configuration file; write the values out.");
            }
        }
    }

    /// <summary>Sets one dotted key from its text form ("train.lr=0.02" gives key "train.lr", value "0.02").</summary>
    /// <param name="key">Dotted key.</param>
    /// <param name="value">Value text; lists are comma-separated (optionally in brackets); "null" clears an optional value.</param>
    /// <param name="where">Where the setting came from, for messages (a file and line, or "--set").</param>
    public void Set(string key, string value, string where = "--set")
    {
        var parts = key.Split('.');
        var section = parts.Length == 2 ? typeof(RunConfig).GetProperties(BindingFlags.Public | BindingFlags.Instance).FirstOrDefault(p => Naming.Apply(p.Name) == parts[0]) : null;
        var property = section?.PropertyType.GetProperties(BindingFlags.Public | BindingFlags.Instance).FirstOrDefault(p => Naming.Apply(p.Name) == parts[1]);
        if (section is null || property is null)
        {
            var closest = Keys.OrderBy(k => Levenshtein(k, key)).Take(3);
            throw new HpfDetException($"{Shorten(where, 200)}: unknown configuration key '{Shorten(key)}'. Did you mean {string.Join(", ", closest.Select(k => $"'{k}'"))}? Valid keys: see 'hpfdet train --help' or a run's config.yaml.");
        }
        object target = section.GetValue(this)!;
        try
        {
            property.SetValue(target, Parse(property.PropertyType, value.Trim()));
        }
        catch (Exception e) when (e is FormatException or OverflowException or InvalidCastException)
        {
            throw new HpfDetException($"{Shorten(where, 200)}: '{key}' cannot be '{Shorten(value)}': expected {Describe(property.PropertyType)}.");
        }
        origins[key] = Shorten(where, 200);
    }

    static object? Parse(Type type, string value)
    {
        var nullable = Nullable.GetUnderlyingType(type);
        bool isNull = value is "" or "null" or "~" or "Null" or "NULL";
        if (isNull && (nullable is not null || type == typeof(string))) return null;
        var t = nullable ?? type;
        if (t == typeof(string)) return value;
        if (t == typeof(int)) return int.Parse(value, NumberStyles.Integer, CultureInfo.InvariantCulture);
        if (t == typeof(double)) return ParseNumber(value);
        if (t == typeof(bool)) return value.ToLowerInvariant() switch { "true" or "yes" or "1" => true, "false" or "no" or "0" => false, _ => throw new FormatException() };
        if (t == typeof(List<int>))
            return isNull ? (type == typeof(List<int>) ? new List<int>() : null) :
                value.Trim().TrimStart('[').TrimEnd(']').Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(v => int.Parse(v, NumberStyles.Integer, CultureInfo.InvariantCulture)).ToList();
        if (t == typeof(List<string>))
            return isNull ? null : value.Trim('[', ']').Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
        throw new InvalidCastException();
    }

    /// <summary>A number, including YAML's .nan and .inf spellings (which validation then refuses with the key's range).</summary>
    static double ParseNumber(string value) => value.ToLowerInvariant() switch
    {
        ".nan" => double.NaN,
        ".inf" or "+.inf" => double.PositiveInfinity,
        "-.inf" => double.NegativeInfinity,
        _ => double.Parse(value, NumberStyles.Float, CultureInfo.InvariantCulture),
    };

    static string Describe(Type t) => (Nullable.GetUnderlyingType(t) ?? t) switch
    {
        var x when x == typeof(int) => $"an integer (from {int.MinValue} to {int.MaxValue})",
        var x when x == typeof(double) => "a number",
        var x when x == typeof(bool) => "true or false",
        var x when x == typeof(List<int>) => "a list of integers like [8, 11]",
        var x when x == typeof(List<string>) => "a list of names like [RBC, WBC]",
        _ => "a text",
    };

    static int Levenshtein(string a, string b)
    {
        // Long inputs (a pasted paragraph) are compared by their start: the suggestion only needs the closest key.
        a = a.Length > 64 ? a[..64] : a;
        b = b.Length > 64 ? b[..64] : b;
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
        return d[a.Length, b.Length];
    }

    /// <summary>The configuration as YAML.</summary>
    public string ToYaml() => new SerializerBuilder().WithNamingConvention(Naming).Build().Serialize(this);

    /// <summary>The configuration as JSON (stored in checkpoints).</summary>
    public JsonObject ToJson() => JsonSerializer.SerializeToNode(this, TrainingLogJson.Options)!.AsObject();

    /// <summary>Reads the configuration stored in a checkpoint.</summary>
    public static RunConfig FromJson(JsonObject? json)
    {
        if (json is null) throw new HpfDetException("The checkpoint carries no run configuration; it was not written by 'hpfdet train'.");
        try
        {
            var config = json.Deserialize<RunConfig>(TrainingLogJson.Options) ?? throw new JsonException("null configuration");
            if (config.Data is null || config.Model is null || config.Loss is null || config.Train is null || config.Test is null)
                throw new JsonException("a section is null");
            foreach (var key in Keys) config.origins[key] = "the checkpoint's configuration";
            return config;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NotSupportedException)
        {
            throw new HpfDetException($"The checkpoint's run configuration cannot be read ({e.Message}); the file is corrupt or from another program.", e);
        }
    }

    /// <summary>Largest data loader worker count accepted (more threads than this only add contention).</summary>
    public const int MaxWorkers = 64;

    /// <summary>
    /// Checks every key before any work (datasets, models): each value against its allowed range, and the
    /// keys that depend on each other. Throws one <see cref="HpfDetException"/> listing every problem with
    /// the key, the value, the allowed range and where the value came from (file and line, or option).
    /// </summary>
    /// <param name="loadingPretrainedWeights">Also require the backbone weights that model.pretrained asks for
    /// (false where the weights come from a checkpoint).</param>
    public void Validate(bool loadingPretrainedWeights = true)
    {
        var problems = ValidationProblems(loadingPretrainedWeights);
        if (problems.Count == 0) return;
        throw new HpfDetException(problems.Count == 1
            ? $"Configuration: {problems[0]}."
            : $"Configuration: {problems.Count} problems: {string.Join("; ", problems)}.");
    }

    /// <summary>Every problem <see cref="Validate"/> would report, one per key.</summary>
    public IReadOnlyList<string> ValidationProblems(bool loadingPretrainedWeights = true)
    {
        var problems = new List<string>();
        string Show(object? v) => v switch
        {
            null => "null",
            double d => d.ToString("R", CultureInfo.InvariantCulture),
            int i => i.ToString(CultureInfo.InvariantCulture),
            bool b => b ? "true" : "false",
            IEnumerable<int> list => "[" + string.Join(", ", list) + "]",
            _ => $"'{Shorten(v.ToString() ?? "")}'",
        };
        void Check(bool ok, string key, object? value, string allowed)
        {
            if (!ok) problems.Add($"'{key}' is {Show(value)} ({OriginOf(key)}); {allowed}");
        }
        void Int(string key, int value, int min, int max, string? why = null) =>
            Check(value >= min && value <= max, key, value, $"it must be an integer from {min} to {max}{(why is null ? "" : $" ({why})")}");
        void Number(string key, double value, double min, double max, bool minOpen = false, bool maxOpen = false, string? why = null) =>
            Check(double.IsFinite(value) && (minOpen ? value > min : value >= min) && (maxOpen ? value < max : value <= max), key, value,
                $"it must be a finite number in {(minOpen ? "(" : "[")}{Show(min)}, {(double.IsPositiveInfinity(max) ? "∞)" : Show(max) + (maxOpen ? ")" : "]"))}{(why is null ? "" : $" ({why})")}");
        void Name(string key, string? value, IReadOnlyList<string> allowed) =>
            Check(value is not null && allowed.Contains(value), key, value, $"it must be {NameList.Join(allowed, "or")}");
        void Text(string key, string? value, string what) => Check(!string.IsNullOrWhiteSpace(value), key, value, $"it must name {what}");

        // data
        Name("data.format", Data.Format, DataFormats);
        Text("data.path", Data.Path, "the dataset (a folder or file) or 'synthetic'");
        Text("data.train_split", Data.TrainSplit, "the training split");
        Text("data.val_split", Data.ValSplit, "the validation split");
        Int("data.synthetic_count", Data.SyntheticCount, 1, 1_000_000);
        Int("data.synthetic_val_count", Data.SyntheticValCount, 0, 1_000_000);
        Int("data.synthetic_size", Data.SyntheticSize, 32, 4096);
        Int("data.workers", Data.Workers, 0, MaxWorkers, "loader threads; 0 loads on the training thread");

        // model
        Name("model.name", Model.Name, DetectorRegistry.Names);
        Int("model.frozen_stages", Model.FrozenStages, -1, 4, "-1 freezes nothing, 0 the stem, 1-4 the stem and that many ResNet stages");
        Int("model.fpn_channels", Model.FpnChannels, 1, 4096);
        Int("model.head_channels", Model.HeadChannels, 1, 4096);
        Int("model.head_convs", Model.HeadConvs, 0, 16);
        if (Model.HeadGroups is { } groups) Int("model.head_groups", groups, 1, 4096, "GroupNorm groups of the head, or null for the detector's own");
        if (Model.AnchorScale is { } anchorScale)
        {
            Check(anchorScale > 0 && anchorScale <= 100, "model.anchor_scale", anchorScale, "a number in (0, 100], or null for the detector's own anchors");
            if (DetectorRegistry.IsKnown(Model.Name) && !DetectorRegistry.Parse(Model.Name).Family.HasAnchors)
                Check(false, "model.anchor_scale", anchorScale, $"'{Model.Name}' has no anchors; remove it");
        }
        if (Model.HeadChannels >= 1 && Model.HeadGroups >= 1)
            Check(Model.HeadChannels % Model.HeadGroups == 0, "model.head_channels", Model.HeadChannels, $"it must be a multiple of model.head_groups ({Model.HeadGroups}, {OriginOf("model.head_groups")})");
        if (Model.BackboneWeights is { } weights)
        {
            if (string.IsNullOrWhiteSpace(weights)) Check(false, "model.backbone_weights", weights, "it must name a .pth or .safetensors file, or be null");
            else if (loadingPretrainedWeights && !File.Exists(weights))
                Check(false, "model.backbone_weights", weights, Directory.Exists(weights) ? "it is a folder; name the .pth or .safetensors file in it" : "no such file; download the torchvision weights or set it to null");
        }
        else if (loadingPretrainedWeights && Model.Pretrained && Model.Name is { } name && DetectorRegistry.IsKnown(name) && DetectorRegistry.Parse(name).Depth != ResNetDepth.R18)
        {
            Check(false, "model.pretrained", true,
                $"{name} (model.name, {OriginOf("model.name")}) has no bundled ImageNet weights: set model.backbone_weights to torchvision's resnet{(int)DetectorRegistry.Parse(name).Depth} state dict " +
                $"(.pth or .safetensors, e.g. resnet{(int)DetectorRegistry.Parse(name).Depth}-*.pth from download.pytorch.org/models), or set model.pretrained=false to train from a random backbone");
        }

        // loss
        Name("loss.name", Loss.Name, LossNames.All);
        Name("loss.scope", Loss.Scope, Scopes);
        bool hpf = Loss.Name == LossNames.Hpf;
        Number("loss.gamma", Loss.Gamma, 0, 100, minOpen: hpf, why: hpf ? "HPF's γ0" : "the focusing exponent");
        Number("loss.alpha", Loss.Alpha, 0, 1);
        Number("loss.delta", Loss.Delta, 0, double.PositiveInfinity);
        Number("loss.w", Loss.W, 0, 100, minOpen: true, why: "α = w/γ");
        Number("loss.beta", Loss.Beta, 0, 100);
        if (hpf && double.IsFinite(Loss.Delta) && Loss.Delta >= 0 && double.IsFinite(Loss.Gamma) && Loss.Gamma > 0)
            Check(Loss.Delta < Loss.Gamma, "loss.delta", Loss.Delta,
                $"it must be below loss.gamma ({Show(Loss.Gamma)}, {OriginOf("loss.gamma")}): HPF clamps γ to [γ0 − δ, γ0 + δ] and needs γ > 0");

        // train
        Int("train.epochs", Train.Epochs, 1, 100_000);
        Int("train.batch", Train.Batch, 1, 1024);
        Number("train.lr", Train.Lr, 0, double.PositiveInfinity, minOpen: true);
        Number("train.momentum", Train.Momentum, 0, 1, maxOpen: true);
        Number("train.weight_decay", Train.WeightDecay, 0, 1);
        Number("train.backbone_lr_mult", Train.BackboneLrMult, 0, 100);
        Int("train.warmup_iters", Train.WarmupIters, 0, int.MaxValue);
        Number("train.warmup_ratio", Train.WarmupRatio, 0, 1);
        if (Train.DecayEpochs is { } decay)
            Check(decay.All(e => e >= 0 && e < Math.Max(Train.Epochs, 1)) && decay.SequenceEqual(decay.Order().Distinct()), "train.decay_epochs", decay,
                $"it must list 0-based epochs in increasing order, each from 0 to train.epochs - 1 = {Train.Epochs - 1}, or be null for 8/12 and 11/12 of the run");
        if (Train.GradClip is { } clip) Number("train.grad_clip", clip, 0, double.PositiveInfinity, minOpen: true, why: "or null for no clipping");
        Int("train.eval_every", Train.EvalEvery, 0, 100_000, "0 evaluates only after the last epoch");
        Int("train.checkpoint_every", Train.CheckpointEvery, 0, 100_000, "0 checkpoints only after the last epoch and when interrupted");
        Int("train.seed", Train.Seed, 0, int.MaxValue);
        if (Train.MaxIters is { } maxIters) Int("train.max_iters", maxIters, 1, int.MaxValue, "or null to run every epoch");
        Int("train.scale", Train.Scale, 32, 4096, "short side in pixels");
        Int("train.max_size", Train.MaxSize, Math.Max(32, Math.Min(Train.Scale, 4096)), 8192, "long side in pixels, at least train.scale");
        if (Train.MultiScale is null) Check(false, "train.multi_scale", null, "it must be a list of short sides, [] for single scale");
        else Check(Train.MultiScale.All(s => s is >= 32 and <= 4096), "train.multi_scale", Train.MultiScale, "every short side must be from 32 to 4096");
        Number("train.flip", Train.Flip, 0, 1, why: "the probability of a horizontal flip");
        Int("train.random_shift", Train.RandomShift, 0, 1024, "the largest shift in pixels, 0 for none");
        Int("train.log_every", Train.LogEvery, 1, int.MaxValue);
        Name("train.precision", Train.Precision, ComputePrecisionNames.All);
        if (Train.Precision == "bf16")
        {
            if (Model.Name is { } bf16Model && DetectorRegistry.IsKnown(bf16Model) && DetectorRegistry.Parse(bf16Model).Depth is ResNetDepth.R50 or ResNetDepth.R101)
                Check(false, "train.precision", Train.Precision,
                    $"bf16 training runs channels-last, where libtorch 2.10 crashes in ResNet-50/101 stages ({bf16Model}, model.name): use fp32 or an r18/r34 model");
            if (!Model.NormEval)
                Check(false, "train.precision", Train.Precision, "bf16 training needs frozen BatchNorm statistics: set model.norm_eval: true, or use fp32");
        }

        // test
        // null: the detector's reference value
        if (Test.ScoreThreshold is { } score) Number("test.score_threshold", score, 0, 1, maxOpen: true);
        if (Test.PreNmsTopK is { } topK) Int("test.pre_nms_top_k", topK, 1, 1_000_000);
        if (Test.NmsIou is { } nms) Number("test.nms_iou", nms, 0, 1, minOpen: true);
        if (Test.MaxPerImage is { } maxPerImage) Int("test.max_per_image", maxPerImage, 1, 100_000);
        return problems;
    }

    /// <summary>The dataset formats of data.format.</summary>
    public static IReadOnlyList<string> DataFormats { get; } = ["voc", "coco", "yolo", "synthetic"];

    /// <summary>The values of loss.scope.</summary>
    public static IReadOnlyList<string> Scopes { get; } = ["per_level", "all_levels"];

    /// <summary>The classification loss this configuration names.</summary>
    public IClassificationLoss BuildLoss() => Loss.Name switch
    {
        LossNames.Focal => new SigmoidFocalLoss(new SigmoidFocalLossOptions(Loss.Gamma, Loss.Alpha)),
        LossNames.Hpf => new HierarchicalProgressiveFocalLoss(new HierarchicalProgressiveFocalLossOptions(Loss.Gamma, Loss.Delta, Loss.W,
            Loss.Scope == "all_levels" ? ProgressiveFocusScope.AllLevels : ProgressiveFocusScope.PerLevel)),
        LossNames.QualityFocal => new QualityFocalLoss(new QualityFocalLossOptions(Loss.Beta)),
        LossNames.Varifocal => new VarifocalLoss(new VarifocalLossOptions(Loss.Alpha == 0.25 ? 0.75 : Loss.Alpha, Loss.Gamma)),
        _ => throw new HpfDetException($"Configuration: 'loss.name' must be {LossNames.Listed()}, not '{Loss.Name}'."),
    };

    /// <summary>The detector this configuration names, with pretrained backbone weights when asked (and <paramref name="loadPretrained"/>).</summary>
    public DenseDetector BuildDetector(int numClasses, bool loadPretrained = true)
    {
        Validate(loadingPretrainedWeights: loadPretrained);
        var depth = DetectorRegistry.Parse(Model.Name).Depth;
        bool onnx = depth == ResNetDepth.R18 && Model.Pretrained && Model.BackboneWeights is null;
        var backboneOptions = new ResNetOptions(depth, Model.FrozenStages, Model.NormEval, onnx ? PretrainedWeights.ImageNetOnnxBlocksPerStage : null,
            NormAffineTrainable: Model.BackboneNormTrainable);
        var backbone = new ResNet(backboneOptions);
        if (loadPretrained)
        {
            if (Model.BackboneWeights is { } weights) PretrainedWeights.LoadTorchvisionStateDict(backbone, weights);
            else if (onnx) PretrainedWeights.LoadResNet18Onnx(backbone);
        }
        return DetectorRegistry.Build(Model.Name, new DetectorBuildOptions(numClasses, backbone, BuildLoss(),
            Model.FpnChannels, Model.HeadChannels, Model.HeadConvs, Model.HeadGroups,
            new InferenceOverrides(Test.ScoreThreshold, Test.PreNmsTopK, Test.NmsIou, Test.MaxPerImage), Model.AnchorScale));
    }

    /// <summary>Input normalisation: the ONNX ResNet-18's BGR 0–255 convention, or ImageNet RGB for torchvision weights.</summary>
    public ImageNormalization InputNormalization() =>
        DetectorRegistry.Parse(Model.Name).Depth == ResNetDepth.R18 && Model.BackboneWeights is null ? ImageNormalization.CaffeBgr : ImageNormalization.ImageNetRgb;

    public TransformPipeline TrainTransforms() => TransformPipeline.ForTraining(
        new[] { Train.Scale }.Concat(Train.MultiScale).Distinct().Select(s => new ResizeScale(s, Math.Max(Train.MaxSize, s))).ToList(),
        Train.Photometric, Train.Flip, randomShift: Train.RandomShift);

    public TransformPipeline TestTransforms() => TransformPipeline.ForEvaluation(new ResizeScale(Train.Scale, Train.MaxSize));

    public TrainerOptions TrainerOptions() => new(Train.Epochs, Train.Lr, Train.Momentum, Train.WeightDecay, Train.WarmupIters, Train.WarmupRatio,
        Train.DecayEpochs?.ToArray(), Train.GradClip, Train.EvalEvery, Train.MaxIters, Train.LogEvery, ComputePrecisionNames.Parse(Train.Precision), Train.CheckpointEvery,
        Train.BackboneLrMult);

    /// <summary>Reads the configured training and validation splits.</summary>
    public (DetectionDataset Train, DetectionDataset Val) LoadDatasets(DataReadOptions? options = null)
    {
        if (Data.Classes is { Count: > 0 } classes) options = (options ?? DataReadOptions.Default) with { ClassNames = classes };
        switch (Data.Format)
        {
            case "synthetic":
                return (SyntheticShapesDataset.Create(new SyntheticShapesOptions(Data.SyntheticCount, Data.SyntheticSize, Train.Seed)),
                        SyntheticShapesDataset.Create(new SyntheticShapesOptions(Data.SyntheticValCount, Data.SyntheticSize, Train.Seed + 1_000_003)));
            case "voc":
                return (VocDatasetReader.Read(Data.Path, Data.TrainSplit, options), VocDatasetReader.Read(Data.Path, Data.ValSplit, options));
            case "yolo":
                return (YoloDatasetReader.Read(Data.Path, Data.TrainSplit, options), YoloDatasetReader.Read(Data.Path, Data.ValSplit, options));
            case "coco":
                // A folder is a Roboflow export (train/, valid/, test/ each with _annotations.coco.json): the
                // splits name its folders. Otherwise one annotation file per split: data.path is the
                // training JSON, data.val_split the validation JSON.
                if (Directory.Exists(Data.Path))
                    return (CocoDatasetReader.Read(Data.Path, Data.Images, options, Data.TrainSplit), CocoDatasetReader.Read(Data.Path, Data.Images, options, Data.ValSplit));
                return (CocoDatasetReader.Read(Data.Path, Data.Images, options), CocoDatasetReader.Read(Data.ValSplit, Data.Images, options));
            default:
                throw new HpfDetException($"Configuration: 'data.format' must be {NameList.Join(DataFormats, "or")}, not '{Data.Format}'.");
        }
    }
}
