using HpfDet.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Training;

/// <summary>
/// Mixed-precision training on CPU (train.precision: bf16). TorchSharp has no autocast, so the detector
/// itself becomes a bfloat16, channels-last working copy (<see cref="DenseDetector.UseBFloat16Compute"/>)
/// whose convolutions run on the CPU's bfloat16 units, while this class keeps the float32 master state:
/// every parameter and buffer as it was before the conversion. The optimizer updates the trained masters
/// from the working copy's gradients and copies them back (<see cref="SgdMomentum.UseMasterWeights"/>);
/// losses, assignment and the optimizer state stay float32, and checkpoints hold the masters, so a
/// checkpoint of a bf16 run is an ordinary float32 checkpoint.
/// </summary>
public sealed class BFloat16Training : IDisposable
{
    readonly Dictionary<string, Tensor> master;

    /// <summary>The float32 state (parameters and buffers by state-dict name) that checkpoints hold.</summary>
    public IReadOnlyDictionary<string, Tensor> MasterState => master;

    BFloat16Training(Dictionary<string, Tensor> master) => this.master = master;

    /// <summary>Keeps the detector's float32 state, converts the detector and rebinds the optimizer to it.</summary>
    /// <param name="channelsLast">The working copy's layout (see <see cref="DenseDetector.UseBFloat16Compute"/>).</param>
    public static BFloat16Training Start(DenseDetector model, SgdMomentum optimizer, bool channelsLast = true)
    {
        var master = new Dictionary<string, Tensor>();
        using (torch.no_grad())
            foreach (var (name, t) in model.state_dict())
            {
                if (t.dtype != ScalarType.Float32 && t.is_floating_point())
                    throw new HpfDetException($"bf16 training starts from a float32 detector; '{name}' is {t.dtype}.");
                master[name] = t.detach().clone().DetachFromDisposeScope();
            }
        model.UseBFloat16Compute(channelsLast);
        optimizer.UseMasterWeights(model.named_parameters(), master);
        return new BFloat16Training(master);
    }

    public void Dispose()
    {
        foreach (var t in master.Values) t.Dispose();
        master.Clear();
    }
}
