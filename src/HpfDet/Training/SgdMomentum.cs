using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HpfDet.Training;

/// <summary>
/// SGD with momentum and L2 weight decay, as torch.optim.SGD (dampening 0, no Nesterov):
/// b ← μ·b + (g + λ·p); p ← p - lr·b. Written here so that its state (one momentum buffer per
/// parameter, by name) goes into checkpoints and a resumed run continues exactly.
/// </summary>
public sealed class SgdMomentum : IDisposable
{
    readonly (string Name, Parameter Param)[] parameters;
    readonly Dictionary<string, Tensor> buffers = new();

    public double Momentum { get; }
    public double WeightDecay { get; }

    /// <param name="namedParameters">The model's named parameters; frozen ones (no grad) are skipped.</param>
    public SgdMomentum(IEnumerable<(string Name, Parameter Param)> namedParameters, double momentum = 0.9, double weightDecay = 1e-4)
    {
        parameters = namedParameters.Where(p => p.Param.requires_grad).ToArray();
        Momentum = momentum;
        WeightDecay = weightDecay;
    }

    public IEnumerable<Parameter> Parameters => parameters.Select(p => p.Param);

    /// <summary>Momentum buffers by parameter name (absent before the first step of a parameter).</summary>
    public IReadOnlyDictionary<string, Tensor> State => buffers;

    public void ZeroGrad()
    {
        foreach (var (_, p) in parameters) p.grad?.zero_();
    }

    /// <summary>One update with learning rate <paramref name="lr"/>; parameters without a gradient are left alone.</summary>
    public void Step(double lr)
    {
        using var _ = torch.no_grad();
        using var weightDecay = WeightDecay.ToScalar();
        using var momentum = Momentum.ToScalar();
        using var negativeLr = (-lr).ToScalar();
        foreach (var (name, p) in parameters)
        {
            var g = p.grad;
            if (g is null) continue;
            using var d = WeightDecay != 0 ? g.add(p, alpha: weightDecay) : g.clone();
            if (!buffers.TryGetValue(name, out var b))
            {
                b = d.clone().DetachFromDisposeScope();
                buffers[name] = b;
            }
            else
            {
                b.mul_(momentum).add_(d, ScalarConstants.One);
            }
            p.add_(b, alpha: negativeLr);
        }
    }

    /// <summary>Total L2 norm of the gradients; scales them down to <paramref name="maxNorm"/> when above it.</summary>
    public double ClipGradNorm(double? maxNorm)
    {
        using var scope = torch.NewDisposeScope();
        var grads = parameters.Select(p => p.Param.grad).Where(g => g is not null).Select(g => g!.pow(ScalarConstants.Two).sum()).ToArray();
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
            buffers[name] = t.to(p.dtype, p.device).clone().DetachFromDisposeScope();
        }
    }

    public void Dispose()
    {
        foreach (var b in buffers.Values) b.Dispose();
        buffers.Clear();
    }
}
