namespace HpfDet.Losses;

/// <summary>
/// The classification losses a configuration can name (loss.name, --loss, --losses): the one list that
/// validation, the command line's choices and its help text read.
/// </summary>
public static class LossNames
{
    public const string Focal = "fl";
    public const string Hpf = "hpf";
    public const string QualityFocal = "qfl";
    public const string Varifocal = "vfl";

    /// <summary>
    /// Not a loss of its own: in <c>hpfdet compare --losses</c>, each model's reference loss
    /// (<see cref="Models.DetectorFamily.NativeLoss"/>), so one comparison can set every detector's own loss against HPF.
    /// </summary>
    public const string Native = "native";

    /// <summary>Every name, the default (HPF) first.</summary>
    public static IReadOnlyList<string> All { get; } = [Hpf, Focal, QualityFocal, Varifocal];

    /// <summary>"hpf, fl, qfl or vfl".</summary>
    public static string Listed(string conjunction = "or") => NameList.Join(All, conjunction);
}
