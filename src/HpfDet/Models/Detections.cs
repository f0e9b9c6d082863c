using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Models;

/// <summary>Ground truth of one image for training, in the network input's pixel frame.</summary>
/// <param name="Boxes">[G, 4] float32 xyxy.</param>
/// <param name="Labels">[G] int64 class indices in [0, C).</param>
/// <param name="IsCrowd">[G] bool, crowd regions (ignored by the assigner); null means none.</param>
public sealed record DetectionTarget(Tensor Boxes, Tensor Labels, Tensor? IsCrowd = null);

/// <summary>Detections of one image.</summary>
/// <param name="Boxes">[K, 4] float32 xyxy.</param>
/// <param name="Scores">[K] float32, descending.</param>
/// <param name="Labels">[K] int64 class indices.</param>
public sealed record Detections(Tensor Boxes, Tensor Scores, Tensor Labels) : IDisposable
{
    public long Count => Scores.shape[0];

    public void Dispose()
    {
        Boxes.Dispose();
        Scores.Dispose();
        Labels.Dispose();
    }
}

/// <summary>One named loss term of a training step (0-dim, with a graph).</summary>
public sealed record LossTerm(string Name, Tensor Value);

/// <summary>
/// The losses of one training step as named terms (classification first, then the detector's own:
/// box, centerness, ...); <see cref="Total"/> is what to back-propagate. Logs, progress and plots show
/// whatever terms a detector has.
/// </summary>
public sealed class DetectionLosses
{
    /// <summary>Name of the classification term every detector has.</summary>
    public const string ClassificationTerm = "classification";

    /// <param name="terms">The terms, classification first; names are unique.</param>
    /// <param name="numPositives">Positive priors over the batch (0-dim, on the device).</param>
    public DetectionLosses(IReadOnlyList<LossTerm> terms, Tensor numPositives)
    {
        if (terms.Count == 0) throw new ArgumentException("A detector gives at least its classification loss.", nameof(terms));
        var duplicate = terms.GroupBy(t => t.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ArgumentException($"Loss term '{duplicate.Key}' is given twice.", nameof(terms));
        Terms = terms;
        NumPositives = numPositives;
    }

    public IReadOnlyList<LossTerm> Terms { get; }
    public Tensor NumPositives { get; }
    public IEnumerable<string> Names => Terms.Select(t => t.Name);

    /// <summary>A term by name.</summary>
    public Tensor this[string name] => Terms.FirstOrDefault(t => t.Name == name)?.Value
        ?? throw new KeyNotFoundException($"No loss term '{name}'; the terms are {string.Join(", ", Names)}.");

    public Tensor Classification => this[ClassificationTerm];

    /// <summary>Σ of the terms (0-dim).</summary>
    public Tensor Total
    {
        get
        {
            var total = Terms[0].Value;
            for (int i = 1; i < Terms.Count; i++) total = total.add(Terms[i].Value, ScalarConstants.One);
            return total;
        }
    }
}
