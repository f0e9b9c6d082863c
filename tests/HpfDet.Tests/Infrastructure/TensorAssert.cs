using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Infrastructure;

/// <summary>Whole-tensor comparisons (torch.equal in TorchSharp is element-wise).</summary>
public static class TensorAssert
{
    /// <summary>Same shape and every element equal.</summary>
    public static bool TensorsEqual(Tensor a, Tensor b)
    {
        if (!a.shape.SequenceEqual(b.shape) || a.dtype != b.dtype) return false;
        using var eq = a.eq(b);
        using var all = eq.all();
        return all.item<bool>();
    }
}
