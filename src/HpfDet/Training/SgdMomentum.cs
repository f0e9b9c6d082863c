using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HpfDet.Training;

/// <summary>
/// SGD with momentum and L2 weight decay, as torch.optim.SGD (dampening 0, no Nesterov):
/// b ← μ·b + (g + λ·p); p ← p - lr·b. Written here so that its state (one momentum buffer per
/// parameter, by name) goes into checkpoints and a resumed run continues exactly. A parameter's learning rate
/// may be scaled by a multiplier chosen from its name (mmdetection's paramwise lr_mult, e.g. YOLOF's backbone
/// at a third of the base rate). With master weights
/// (<see cref="UseMasterWeights"/>, bfloat16 training) it reads the gradients of the working copy's
/// parameters, updates the float32 masters and copies them back into the working copy.
/// </summary>
public sealed class SgdMomentum : IDisposable
{
    (string Name, Parameter Param)[] parameters;
    readonly Func<string, double>? lrMultiplier;
    readonly Dictionary<string, Tensor> buffers = new();
    IReadOnlyDictionary<string, Tensor>? masters;

    public double Momentum { get; }
    public double WeightDecay { get; }

    /// <param name="namedParameters">The model's named parameters; frozen ones (no grad) are skipped.</param>
    /// <param name="lrMultiplier">Multiplier of the learning rate for a parameter, by name (null: 1 for all).</param>
    public SgdMomentum(IEnumerable<(string Name, Parameter Param)> namedParameters, double momentum = 0.9, double weightDecay = 1e-4,
        Func<string, double>? lrMultiplier = null)
    {
        parameters = namedParameters.Where(p => p.Param.requires_grad).ToArray();
        this.lrMultiplier = lrMultiplier;
        Momentum = momentum;
        WeightDecay = weightDecay;
    }

    public IEnumerable<Parameter> Parameters => parameters.Select(p => p.Param);

    /// <summary>
    /// From now on the parameters are <paramref name="working"/> (a lower-precision copy of the model whose
    /// gradients drive the updates) and the weights updated are <paramref name="masterWeights"/> (float32, by
    /// the same names); after each update the masters are copied into the working parameters. The momentum
    /// buffers stay float32.
    /// </summary>
    public void UseMasterWeights(IEnumerable<(string Name, Parameter Param)> working, IReadOnlyDictionary<string, Tensor> masterWeights)
    {
        var trained = working.Where(p => p.Param.requires_grad).ToArray();
        var before = parameters.Select(p => p.Name).ToHashSet();
        if (!before.SetEquals(trained.Select(p => p.Name)))
            throw new InvalidOperationException("The working copy does not train the same parameters as the model the optimizer was made for.");
        foreach (var (name, _) in trained)
            if (!masterWeights.ContainsKey(name)) throw new InvalidOperationException($"No master weight for '{name}'.");
        parameters = trained;
        masters = masterWeights;
    }

    /// <summary>The tensor an update changes: the master weight when there are masters, else the parameter.</summary>
    Tensor Updated(string name, Parameter p) => masters is null ? p : masters[name];

    /// <summary>Momentum buffers by parameter name (absent before the first step of a parameter).</summary>
    public IReadOnlyDictionary<string, Tensor> State => buffers;

    public void ZeroGrad()
    {
        foreach (var (_, p) in parameters) p.grad?.zero_();
    }

    /// <summary>The learning-rate multiplier of a parameter (1 unless a multiplier was given).</summary>
    public double LearningRateMultiplier(string name) => lrMultiplier?.Invoke(name) ?? 1.0;

    /// <summary>One update with learning rate <paramref name="lr"/> (times each parameter's multiplier); parameters without a gradient are left alone.</summary>
    public void Step(double lr)
    {
        using var _ = torch.no_grad();
        using var weightDecay = WeightDecay.ToScalar();
        using var momentum = Momentum.ToScalar();
        using var baseNegativeLr = (-lr).ToScalar();
        foreach (var (name, p) in parameters)
        {
            if (p.grad is not { } grad) continue;
            double multiplier = LearningRateMultiplier(name);
            using var scaledNegativeLr = multiplier == 1.0 ? null : (-lr * multiplier).ToScalar();
            var negativeLr = scaledNegativeLr ?? baseNegativeLr;
            var w = Updated(name, p);
            using var g = grad.to(w.dtype);
            using var d = WeightDecay != 0 ? g.add(w, alpha: weightDecay) : g.clone();
            if (!buffers.TryGetValue(name, out var b))
            {
                b = d.clone().DetachFromDisposeScope();
                buffers[name] = b;
            }
            else
            {
                b.mul_(momentum).add_(d, ScalarConstants.One);
            }
            w.add_(b, alpha: negativeLr);
            if (masters is not null) p.copy_(w);
        }
    }

    /// <summary>Total L2 norm of the gradients; scales them down to <paramref name="maxNorm"/> when above it.</summary>
    public double ClipGradNorm(double? maxNorm)
    {
        using var scope = torch.NewDisposeScope();
        var grads = parameters.Select(p => p.Param.grad).Where(g => g is not null).Select(g => g!.to(ScalarType.Float32).pow(ScalarConstants.Two).sum()).ToArray();
        if (grads.Length == 0) return 0;
        double norm = Math.Sqrt(torch.stack(grads).sum().item<float>());
        if (maxNorm is { } max && norm > max)
        {
            using var _ = torch.no_grad();
            using var factor = (max / (norm + 1e-6)).ToScalar();
            foreach (var (_, p) in parameters) p.grad?.mul_(factor);
        }
        return norm;
    }

    /// <summary>Restores momentum buffers saved from <see cref="State"/>.</summary>
    public void LoadState(IReadOnlyDictionary<string, Tensor> state)
    {
        var known = parameters.ToDictionary(p => p.Name, p => p.Param);
        foreach (var (name, t) in state)
        {
            if (!known.TryGetValue(name, out var p))
                throw new HpfDetException($"The checkpoint's optimizer state has a buffer for '{name}', which this model does not train; the checkpoint belongs to another model configuration.");
            if (!p.shape.SequenceEqual(t.shape))
                throw new HpfDetException($"The checkpoint's optimizer buffer '{name}' has shape [{string.Join(", ", t.shape)}], the parameter [{string.Join(", ", p.shape)}].");
            if (buffers.Remove(name, out var old)) old.Dispose();
            var w = Updated(name, p);
            buffers[name] = t.to(w.dtype, w.device).clone().DetachFromDisposeScope();
        }
    }

    public void Dispose()
    {
        foreach (var b in buffers.Values) b.Dispose();
        buffers.Clear();
    }
}
