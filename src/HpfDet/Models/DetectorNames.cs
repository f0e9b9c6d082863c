using HpfDet.Models.Backbones;

namespace HpfDet.Models;

/// <summary>
/// The detectors a configuration can name (model.name, --model): the one list that validation, the
/// command line's help text and the model builder read.
/// </summary>
public static class DetectorNames
{
    /// <summary>Every name, the default first.</summary>
    public static IReadOnlyList<string> All { get; } = ["atss-r18", "atss-r34", "atss-r50", "atss-r101"];

    /// <summary>The backbone depth of a detector name.</summary>
    public static ResNetDepth BackboneDepth(string name) => name switch
    {
        "atss-r18" => ResNetDepth.R18,
        "atss-r34" => ResNetDepth.R34,
        "atss-r50" => ResNetDepth.R50,
        "atss-r101" => ResNetDepth.R101,
        _ => throw new HpfDetException($"Unknown detector '{name}': use {Listed()}."),
    };

    /// <summary>"atss-r18, atss-r34, atss-r50 or atss-r101".</summary>
    public static string Listed(string conjunction = "or") => NameList.Join(All, conjunction);
}
