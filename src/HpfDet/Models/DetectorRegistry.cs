using HpfDet.Boxes;
using HpfDet.Losses;
using HpfDet.Models.Backbones;

namespace HpfDet.Models;

/// <summary>Post-processing values that override a detector's defaults where set.</summary>
public sealed record InferenceOverrides(double? ScoreThreshold = null, int? PreNmsTopK = null, double? NmsIoU = null, int? MaxDetections = null)
{
    /// <summary>The detector's defaults with the values set here.</summary>
    public InferenceOptions Apply(InferenceOptions defaults) => new(
        ScoreThreshold ?? defaults.ScoreThreshold, PreNmsTopK ?? defaults.PreNmsTopK, NmsIoU ?? defaults.NmsIoU, MaxDetections ?? defaults.MaxDetections);
}

/// <summary>What every registered detector is built from (configuration, CLI); unset values take the detector's reference defaults.</summary>
/// <param name="NumClasses">Object classes C.</param>
/// <param name="Backbone">The backbone, with its weights loaded when wanted.</param>
/// <param name="ClassificationLoss">The classification loss.</param>
/// <param name="FpnChannels">FPN channels (null: the detector's default, 256).</param>
/// <param name="HeadChannels">Head channels (null: the detector's default, 256).</param>
/// <param name="HeadConvs">Stacked convs per head branch (null: the detector's default, 4).</param>
/// <param name="HeadGroups">GroupNorm groups in the head (null: the detector's default; ignored by heads without GroupNorm).</param>
/// <param name="Inference">Post-processing overrides.</param>
public sealed record DetectorBuildOptions(
    int NumClasses, ResNet Backbone, IClassificationLoss ClassificationLoss,
    int? FpnChannels = null, int? HeadChannels = null, int? HeadConvs = null, int? HeadGroups = null, InferenceOverrides? Inference = null,
    double? AnchorScale = null)
{
    /// <summary>The detector's default anchors, scaled by <see cref="AnchorScale"/> when it is set; null when it is not.</summary>
    public AnchorGeneratorOptions? ScaledAnchors(AnchorGeneratorOptions defaults) => AnchorScale is { } s ? defaults.Scaled(s) : null;

}

/// <summary>The classification loss a detector's reference configuration trains with (what <c>compare --losses native</c> runs).</summary>
/// <param name="Name">One of <see cref="LossNames.All"/>.</param>
/// <param name="Gamma">loss.gamma where the reference differs from the default (null: the configured value).</param>
/// <param name="Alpha">loss.alpha where the reference differs from the default (null: the configured value).</param>
public sealed record NativeLoss(string Name, double? Gamma = null, double? Alpha = null)
{
    /// <summary>"fl", or "fl (γ 1.5, α 0.4)" with settings of its own.</summary>
    public override string ToString()
    {
        var settings = new List<string>();
        if (Gamma is { } g) settings.Add(FormattableString.Invariant($"γ {g}"));
        if (Alpha is { } a) settings.Add(FormattableString.Invariant($"α {a}"));
        return settings.Count == 0 ? Name : $"{Name} ({string.Join(", ", settings)})";
    }
}

/// <summary>A detector family of the registry.</summary>
/// <param name="Name">Registry name, the prefix of the model names ("atss" → atss-r18 ... atss-r101).</param>
/// <param name="Description">One line for the help text.</param>
/// <param name="Build">Builds the detector from the common options.</param>
/// <param name="HasAnchors">Whether its priors are anchors that model.anchor_scale can scale.</param>
/// <param name="Native">Its reference classification loss (null: focal loss with the configured γ and α).</param>
public sealed record DetectorFamily(string Name, string Description, Func<DetectorBuildOptions, DenseDetector> Build, bool HasAnchors = true, NativeLoss? Native = null)
{
    /// <summary>The loss its reference configuration trains with.</summary>
    public NativeLoss NativeLoss => Native ?? new NativeLoss(LossNames.Focal);
}

/// <summary>
/// The one list of detectors: configuration validation, the CLI's choices, the help text and
/// checkpoints all use it. Adding a detector is its file plus one line here.
/// </summary>
public static class DetectorRegistry
{
    public static IReadOnlyList<DetectorFamily> Families { get; } =
    [
        new("atss", "ATSS (mmdetection 2.x): ATSS assigner, GIoU, centerness", o => new AtssDetector(o)),
        new("retinanet", "RetinaNet (torchvision 0.14): 9 anchors, max-IoU matching, L1 on deltas", o => new RetinaNetDetector(o)),
        new("fcos", "FCOS (torchvision 0.14): centre sampling, scale ranges, GIoU, centerness", o => new FcosDetector(o), HasAnchors: false),
        new("gfl", "GFL (mmdetection 2.x): ATSS assigner, joint class-IoU score (QFL), distance distributions (DFL), GIoU", o => new GflDetector(o),
            Native: new NativeLoss(LossNames.QualityFocal)),
        new("paa", "PAA (mmdetection 2.x): loss-based Gaussian-mixture anchor assignment, GIoU, IoU prediction, score voting", o => new PaaDetector(o)),
        new("vfnet", "VarifocalNet (mmdetection 2.x): ATSS assigner, star deformable-conv box refinement, IoU-aware classification", o => new VfnetDetector(o),
            Native: new NativeLoss(LossNames.Varifocal, Alpha: 0.75)),
        new("fsaf", "FSAF (mmdetection 2.x, anchor-free branch): centre regions, online level selection, TBLR, IoU loss", o => new FsafDetector(o), HasAnchors: false),
        new("foveabox", "FoveaBox (mmdetection 2.x): fovea centre regions, overlapping scale ranges, smooth L1 on log distances", o => new FoveaBoxDetector(o), HasAnchors: false,
            Native: new NativeLoss(LossNames.Focal, Gamma: 1.5, Alpha: 0.4)),
        new("yolof", "YOLOF (mmdetection 2.x): C5 only, dilated encoder, uniform matching, implicit objectness, GIoU", o => new YolofDetector(o)),
    ];

    /// <summary>Backbone depths every family is offered with, as name suffixes.</summary>
    public static IReadOnlyDictionary<string, ResNetDepth> Depths { get; } = new Dictionary<string, ResNetDepth>
    {
        ["r18"] = ResNetDepth.R18, ["r34"] = ResNetDepth.R34, ["r50"] = ResNetDepth.R50, ["r101"] = ResNetDepth.R101,
    };

    /// <summary>Every model name ("atss-r18", ..., "fcos-r101").</summary>
    public static IReadOnlyList<string> Names { get; } = Families.SelectMany(f => Depths.Keys.Select(d => $"{f.Name}-{d}")).ToList();

    /// <summary>"atss-r18, atss-r34, ... or fcos-r101".</summary>
    public static string Listed(string conjunction = "or") => NameList.Join(Names, conjunction);

    /// <summary>Whether <paramref name="name"/> is a registered model name.</summary>
    public static bool IsKnown(string name) => Names.Contains(name);

    /// <summary>The family and backbone depth of a model name; an error lists the names there are.</summary>
    public static (DetectorFamily Family, ResNetDepth Depth) Parse(string name)
    {
        int dash = name.LastIndexOf('-');
        var family = dash > 0 ? Families.FirstOrDefault(f => f.Name == name[..dash]) : null;
        if (family is null || !Depths.TryGetValue(name[(dash + 1)..], out var depth))
            throw new HpfDetException($"Unknown model '{name}': use {Listed()}.");
        return (family, depth);
    }

    /// <summary>Builds the detector a model name names.</summary>
    public static DenseDetector Build(string name, DetectorBuildOptions options)
    {
        var family = Parse(name).Family;
        if (options.AnchorScale is not null && !family.HasAnchors)
            throw new HpfDetException($"model.anchor_scale applies to detectors with anchors ({string.Join(", ", Families.Where(f => f.HasAnchors).Select(f => f.Name))}); " +
                $"'{family.Name}' places points, not anchors. Remove model.anchor_scale.");
        return family.Build(options);
    }
}
