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
    public int SyntheticCount { get; set; } = 200;
    public int SyntheticValCount { get; set; } = 50;
    public int SyntheticSize { get; set; } = 320;
    public int Workers { get; set; } = 2;
}

/// <summary>The detector.</summary>
public sealed class ModelConfig
{
    /// <summary>A registered model name: family-depth (atss-r18, retinanet-r50, fcos-r18, ...; see <see cref="DetectorRegistry.Names"/>).</summary>
    public string Name { get; set; } = "atss-r18";
    /// <summary>ImageNet ResNet-18 weights from the bundled ONNX file (r18 models).</summary>
    public bool Pretrained { get; set; } = true;
    /// <summary>Optional torchvision state dict (.pth/.safetensors) for the backbone.</summary>
    public string? BackboneWeights { get; set; }
    public int FrozenStages { get; set; } = 1;
    public bool NormEval { get; set; } = true;
    public int FpnChannels { get; set; } = 256;
    public int HeadChannels { get; set; } = 256;
    public int HeadConvs { get; set; } = 4;
    /// <summary>GroupNorm groups of the head; null: the detector's reference (ATSS 32, FCOS 16; RetinaNet has none).</summary>
    public int? HeadGroups { get; set; }
}

/// <summary>The classification loss and its hyperparameters.</summary>
public sealed class LossConfig
{
    /// <summary>fl, hpf, qfl or vfl.</summary>
    public string Name { get; set; } = "hpf";
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
    public int WarmupIters { get; set; } = 500;
    public double WarmupRatio { get; set; } = 0.001;
    public List<int>? DecayEpochs { get; set; }
    public double? GradClip { get; set; }
    public int EvalEvery { get; set; } = 1;
    public int Seed { get; set; } = 0;
    public int? MaxIters { get; set; }
    /// <summary>Short side of the training (and test) scale.</summary>
    public int Scale { get; set; } = 512;
    /// <summary>Longest side allowed after resizing.</summary>
    public int MaxSize { get; set; } = 853;
    /// <summary>Extra short sides for multi-scale training (empty: single scale).</summary>
    public List<int> MultiScale { get; set; } = [];
    public double Flip { get; set; } = 0.5;
    public bool Photometric { get; set; }
    public int LogEvery { get; set; } = 1;
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
    public static IReadOnlyList<string> Keys { get; } = typeof(RunConfig).GetProperties()
        .SelectMany(section => section.PropertyType.GetProperties().Select(p => $"{Naming.Apply(section.Name)}.{Naming.Apply(p.Name)}"))
        .ToList();

    /// <summary>Reads a YAML file; unknown keys and bad values are errors naming the file, line and key.</summary>
    public static RunConfig Load(string path)
    {
        if (!File.Exists(path)) throw new HpfDetException($"Configuration file '{path}' not found.");
        var config = new RunConfig();
        var yaml = new YamlStream();
        try
        {
            using var reader = new StreamReader(path);
            yaml.Load(reader);
        }
        catch (YamlException e)
        {
            throw new HpfDetException($"{path}, line {e.Start.Line}: malformed YAML ({e.InnerException?.Message ?? e.Message}).", e);
        }
        if (yaml.Documents.Count == 0) return config;
        if (yaml.Documents[0].RootNode is not YamlMappingNode root)
            throw new HpfDetException($"{path}: the configuration must be a mapping of sections (data, model, loss, train, test).");
        foreach (var (sectionNode, body) in root.Children)
        {
            var section = ((YamlScalarNode)sectionNode).Value ?? "";
            if (body is not YamlMappingNode map)
            {
                config.Set(section, body.ToString(), $"{path}, line {sectionNode.Start.Line}");
                continue;
            }
            foreach (var (keyNode, valueNode) in map.Children)
            {
                var key = $"{section}.{((YamlScalarNode)keyNode).Value}";
                string value = valueNode switch
                {
                    YamlScalarNode s => s.Value ?? "",
                    YamlSequenceNode seq => string.Join(",", seq.Children.Select(c => ((YamlScalarNode)c).Value)),
                    _ => throw new HpfDetException($"{path}, line {valueNode.Start.Line}: '{key}' must be a value or a list."),
                };
                config.Set(key, value, $"{path}, line {keyNode.Start.Line}");
            }
        }
        return config;
    }

    /// <summary>Sets one dotted key from its text form ("train.lr=0.02" gives key "train.lr", value "0.02").</summary>
    /// <param name="key">Dotted key.</param>
    /// <param name="value">Value text; lists are comma-separated; "null" clears an optional value.</param>
    /// <param name="where">Where the setting came from, for messages (a file and line, or "--set").</param>
    public void Set(string key, string value, string where = "--set")
    {
        var parts = key.Split('.');
        var section = parts.Length == 2 ? typeof(RunConfig).GetProperties().FirstOrDefault(p => Naming.Apply(p.Name) == parts[0]) : null;
        var property = section?.PropertyType.GetProperties().FirstOrDefault(p => Naming.Apply(p.Name) == parts[1]);
        if (section is null || property is null)
        {
            var closest = Keys.OrderBy(k => Levenshtein(k, key)).Take(3);
            throw new HpfDetException($"{where}: unknown configuration key '{key}'. Did you mean {string.Join(", ", closest.Select(k => $"'{k}'"))}? Valid keys: see 'hpfdet train --help' or a run's config.yaml.");
        }
        object target = section.GetValue(this)!;
        try
        {
            property.SetValue(target, Parse(property.PropertyType, value.Trim()));
        }
        catch (Exception e) when (e is FormatException or OverflowException or InvalidCastException)
        {
            throw new HpfDetException($"{where}: '{key}' cannot be '{value}': expected {Describe(property.PropertyType)}.");
        }
    }

    static object? Parse(Type type, string value)
    {
        var nullable = Nullable.GetUnderlyingType(type);
        bool isNull = value is "" or "null" or "~";
        if (nullable is not null || !type.IsValueType)
        {
            if (isNull && type != typeof(string) && type != typeof(List<int>)) return null;
            if (isNull && type == typeof(string)) return null;
        }
        var t = nullable ?? type;
        if (t == typeof(string)) return value;
        if (t == typeof(int)) return int.Parse(value, CultureInfo.InvariantCulture);
        if (t == typeof(double)) return double.Parse(value, NumberStyles.Float, CultureInfo.InvariantCulture);
        if (t == typeof(bool)) return value.ToLowerInvariant() switch { "true" or "yes" or "1" => true, "false" or "no" or "0" => false, _ => throw new FormatException() };
        if (t == typeof(List<int>))
            return isNull ? (type == typeof(List<int>) ? new List<int>() : null) :
                value.Trim('[', ']').Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToList();
        throw new InvalidCastException();
    }

    static string Describe(Type t) => (Nullable.GetUnderlyingType(t) ?? t) switch
    {
        var x when x == typeof(int) => "an integer",
        var x when x == typeof(double) => "a number",
        var x when x == typeof(bool) => "true or false",
        var x when x == typeof(List<int>) => "a list of integers like [8, 11]",
        _ => "a text",
    };

    static int Levenshtein(string a, string b)
    {
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
    public static RunConfig FromJson(JsonObject? json) =>
        json?.Deserialize<RunConfig>(TrainingLogJson.Options) ?? throw new HpfDetException("The checkpoint carries no run configuration; it was not written by 'hpfdet train'.");

    /// <summary>Checks values that would only fail later; throws with the key to fix.</summary>
    public void Validate()
    {
        void Require(bool ok, string key, string what) { if (!ok) throw new HpfDetException($"Configuration: '{key}' {what}."); }
        Require(Data.Format is "voc" or "coco" or "yolo" or "synthetic", "data.format", $"must be voc, coco, yolo or synthetic, not '{Data.Format}'");
        Require(DetectorRegistry.IsKnown(Model.Name), "model.name", $"must be one of {string.Join(", ", DetectorRegistry.Names)}, not '{Model.Name}'");
        Require(Loss.Name is "fl" or "hpf" or "qfl" or "vfl", "loss.name", $"must be fl, hpf, qfl or vfl, not '{Loss.Name}'");
        Require(Loss.Scope is "per_level" or "all_levels", "loss.scope", $"must be per_level or all_levels, not '{Loss.Scope}'");
        Require(Train.Epochs >= 1, "train.epochs", "must be at least 1");
        Require(Train.Batch >= 1, "train.batch", "must be at least 1");
        Require(Train.Lr > 0, "train.lr", "must be positive");
        Require(Train.Scale >= 32 && Train.MaxSize >= Train.Scale, "train.scale", "must be at least 32 and at most train.max_size");
        Require(Model.HeadGroups is null || (Model.HeadGroups > 0 && Model.HeadChannels % Model.HeadGroups == 0), "model.head_channels", $"must be a multiple of model.head_groups ({Model.HeadGroups})");
        Require(Data.Workers >= 0, "data.workers", "must be 0 or more");
    }

    /// <summary>The classification loss this configuration names.</summary>
    public IClassificationLoss BuildLoss() => Loss.Name switch
    {
        "fl" => new SigmoidFocalLoss(new SigmoidFocalLossOptions(Loss.Gamma, Loss.Alpha)),
        "hpf" => new HierarchicalProgressiveFocalLoss(new HierarchicalProgressiveFocalLossOptions(Loss.Gamma, Loss.Delta, Loss.W,
            Loss.Scope == "all_levels" ? ProgressiveFocusScope.AllLevels : ProgressiveFocusScope.PerLevel)),
        "qfl" => new QualityFocalLoss(new QualityFocalLossOptions(Loss.Beta)),
        "vfl" => new VarifocalLoss(new VarifocalLossOptions(Loss.Alpha == 0.25 ? 0.75 : Loss.Alpha, Loss.Gamma)),
        _ => throw new HpfDetException($"Configuration: 'loss.name' must be fl, hpf, qfl or vfl, not '{Loss.Name}'."),
    };

    /// <summary>The detector this configuration names, with pretrained backbone weights when asked (and <paramref name="loadPretrained"/>).</summary>
    public DenseDetector BuildDetector(int numClasses, bool loadPretrained = true)
    {
        Validate();
        var depth = DetectorRegistry.Parse(Model.Name).Depth;
        bool onnx = depth == ResNetDepth.R18 && Model.Pretrained && Model.BackboneWeights is null;
        var backboneOptions = new ResNetOptions(depth, Model.FrozenStages, Model.NormEval, onnx ? PretrainedWeights.ImageNetOnnxBlocksPerStage : null);
        var backbone = new ResNet(backboneOptions);
        if (loadPretrained)
        {
            if (Model.BackboneWeights is { } weights) PretrainedWeights.LoadTorchvisionStateDict(backbone, weights);
            else if (onnx) PretrainedWeights.LoadResNet18Onnx(backbone);
        }
        return DetectorRegistry.Build(Model.Name, new DetectorBuildOptions(numClasses, backbone, BuildLoss(),
            Model.FpnChannels, Model.HeadChannels, Model.HeadConvs, Model.HeadGroups,
            new InferenceOverrides(Test.ScoreThreshold, Test.PreNmsTopK, Test.NmsIou, Test.MaxPerImage)));
    }

    /// <summary>Input normalisation: the ONNX ResNet-18's BGR 0–255 convention, or ImageNet RGB for torchvision weights.</summary>
    public ImageNormalization InputNormalization() =>
        DetectorRegistry.Parse(Model.Name).Depth == ResNetDepth.R18 && Model.BackboneWeights is null ? ImageNormalization.CaffeBgr : ImageNormalization.ImageNetRgb;

    public TransformPipeline TrainTransforms() => TransformPipeline.ForTraining(
        new[] { Train.Scale }.Concat(Train.MultiScale).Distinct().Select(s => new ResizeScale(s, Math.Max(Train.MaxSize, s))).ToList(),
        Train.Photometric, Train.Flip);

    public TransformPipeline TestTransforms() => TransformPipeline.ForEvaluation(new ResizeScale(Train.Scale, Train.MaxSize));

    public TrainerOptions TrainerOptions() => new(Train.Epochs, Train.Lr, Train.Momentum, Train.WeightDecay, Train.WarmupIters, Train.WarmupRatio,
        Train.DecayEpochs?.ToArray(), Train.GradClip, Train.EvalEvery, Train.MaxIters, Train.LogEvery);

    /// <summary>Reads the configured training and validation splits.</summary>
    public (DetectionDataset Train, DetectionDataset Val) LoadDatasets(DataReadOptions? options = null)
    {
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
                // One annotation file per split: data.path is the training JSON, data.val_split the validation JSON.
                return (CocoDatasetReader.Read(Data.Path, Data.Images, options), CocoDatasetReader.Read(Data.ValSplit, Data.Images, options));
            default:
                throw new HpfDetException($"Configuration: 'data.format' must be voc, coco, yolo or synthetic, not '{Data.Format}'.");
        }
    }
}
