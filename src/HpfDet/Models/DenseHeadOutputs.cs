using static TorchSharp.torch;

namespace HpfDet.Models;

/// <summary>
/// Raw per-level outputs of a dense head, laid out as convolutions give them: level l is
/// [B, A·K, H_l, W_l] with A priors per location and K values per prior (channel = a·K + k).
/// </summary>
/// <param name="ClassLogits">Per level [B, A·C, H, W].</param>
/// <param name="BoxRegression">Per level [B, A·4, H, W]: what the detector's box coder decodes.</param>
/// <param name="Extra">Detector-specific outputs by name (centerness, IoU, ...), per level [B, A·K, H, W].</param>
public sealed record DenseHeadOutputs(Tensor[] ClassLogits, Tensor[] BoxRegression, IReadOnlyDictionary<string, Tensor[]> Extra)
{
    public DenseHeadOutputs(Tensor[] classLogits, Tensor[] boxRegression) : this(classLogits, boxRegression, new Dictionary<string, Tensor[]>()) { }

    /// <summary>Number of pyramid levels.</summary>
    public int NumLevels => ClassLogits.Length;

    /// <summary>An extra output by name; a clear error names the ones there are.</summary>
    public Tensor[] this[string name] => Extra.TryGetValue(name, out var t) ? t
        : throw new KeyNotFoundException($"The head has no output '{name}'; it has {string.Join(", ", Extra.Keys.Prepend("class logits, box regression"))}.");

    /// <summary>
    /// Level outputs [B, A·K, H, W] as one [B, Σ_l H_l·W_l·A, K] tensor in prior order (level, y, x, anchor).
    /// </summary>
    public static Tensor Flatten(IReadOnlyList<Tensor> levels, int valuesPerPrior)
    {
        var parts = new Tensor[levels.Count];
        for (int l = 0; l < levels.Count; l++)
            parts[l] = FlattenLevel(levels[l], valuesPerPrior);
        return parts.Length == 1 ? parts[0] : cat(parts, 1);
    }

    /// <summary>One level [B, A·K, H, W] → [B, H·W·A, K].</summary>
    public static Tensor FlattenLevel(Tensor level, int valuesPerPrior) =>
        level.permute(0, 2, 3, 1).reshape(level.shape[0], -1, valuesPerPrior);
}
