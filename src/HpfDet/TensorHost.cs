using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet;

/// <summary>Host copies of tensors.</summary>
public static class TensorHost
{
    /// <summary>
    /// The elements of <paramref name="t"/> in row-major order as a new array (one copy; empty tensors
    /// give an empty array, which TorchSharp's own accessor does not handle).
    /// </summary>
    public static T[] ToArray<T>(this Tensor t) where T : unmanaged
    {
        if (t.numel() == 0) return [];
        using var c = t.detach().cpu().contiguous();
        return c.data<T>().ToArray();
    }
}
