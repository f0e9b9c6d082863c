using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet;

/// <summary>How libtorch's oneDNN (MKL-DNN) convolutions are used.</summary>
public enum OneDnnMode
{
    /// <summary>Check oneDNN's convolution gradients once per process and turn oneDNN off if they are wrong.</summary>
    Auto,
    /// <summary>Always use oneDNN (libtorch's default).</summary>
    On,
    /// <summary>Never use oneDNN: convolutions run on libtorch's own im2col + GEMM kernels.</summary>
    Off,
}

/// <summary>The outcome of <see cref="TorchRuntime.EnsureCorrectConvolutions()"/>.</summary>
/// <param name="Mode">The mode asked for.</param>
/// <param name="OneDnnEnabled">Whether oneDNN is used after the check.</param>
/// <param name="BackwardError">Largest |float32 − float64| of the probe's input gradient with oneDNN (NaN if it gave NaN; null if not probed).</param>
public sealed record ConvolutionCheck(OneDnnMode Mode, bool OneDnnEnabled, double? BackwardError);

/// <summary>
/// Process-wide libtorch settings that correctness depends on. On some CPUs (seen on an AMD Zen 5
/// with libtorch 2.10's oneDNN 3.7.1) oneDNN's float32 convolution backward-data gives wrong values
/// and NaN whenever the convolution's output channels are not a multiple of 16 (a 64→6-channel 3×3
/// classifier, say), so training diverged after its first step. Dense-head predictors therefore use
/// <see cref="Models.PaddedOutputConv2d"/>. <see cref="EnsureCorrectConvolutions()"/> probes the
/// convolutions a detector runs (channel multiples of 16, and the padded predictor) against float64
/// and, if any is still wrong, turns oneDNN off (libtorch then uses its own, about 3× slower, kernels).
/// Detectors and the trainer call it.
/// </summary>
public static class TorchRuntime
{
    static readonly Lock Gate = new();
    static ConvolutionCheck? result;

    /// <summary>The mode from env HPFDET_ONEDNN (auto, on, off); auto when unset.</summary>
    public static OneDnnMode ModeFromEnvironment() => Environment.GetEnvironmentVariable("HPFDET_ONEDNN")?.Trim().ToLowerInvariant() switch
    {
        "on" or "1" or "true" => OneDnnMode.On,
        "off" or "0" or "false" => OneDnnMode.Off,
        _ => OneDnnMode.Auto,
    };

    /// <summary>The check's result once made (null before).</summary>
    public static ConvolutionCheck? LastCheck { get { lock (Gate) return result; } }

    /// <summary>Runs the check once per process (later calls return the first result).</summary>
    public static ConvolutionCheck EnsureCorrectConvolutions() => EnsureCorrectConvolutions(ModeFromEnvironment());

    /// <inheritdoc cref="EnsureCorrectConvolutions()"/>
    public static ConvolutionCheck EnsureCorrectConvolutions(OneDnnMode mode)
    {
        lock (Gate)
        {
            if (result is not null) return result;
            // libtorch considers NNPACK for the convolutions oneDNN skips (batch 1 and under 20,480
            // input values: P6/P7 when one image is predicted); on CPUs NNPACK refuses it retries its
            // initialisation and logs "Could not initialize NNPACK" on every such call. It cannot run
            // on these CPUs anyway, so it is switched off for the whole process.
            SetUserEnabledNnpack(GlobalContext(), false);
            if (mode == OneDnnMode.Off) SetOneDnn(false);
            if (mode != OneDnnMode.Auto) return result = new ConvolutionCheck(mode, OneDnnEnabled(), null);
            double error = ProbeBackwardError();
            bool wrong = !(error < 1e-3);
            if (wrong) SetOneDnn(false);
            return result = new ConvolutionCheck(mode, OneDnnEnabled(), error);
        }
    }

    /// <summary>
    /// Largest |float32 autograd − float64 reference| of a convolution's input gradient, over the
    /// shapes a detector runs: plain convolutions with output channels a multiple of 16 and padded
    /// predictors with few output channels, on small maps. The reference is the transposed
    /// convolution in float64, which libtorch computes without oneDNN.
    /// </summary>
    public static double ProbeBackwardError()
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.enable_grad();
        var generator = new Generator(20261129);
        double worst = 0;
        foreach (var (inCh, outCh, size) in new[] { (64, 6, 8), (64, 6, 4), (64, 64, 8), (32, 16, 16), (64, 1, 8) })
        {
            var x = torch.randn(2, inCh, size, size, generator: generator).requires_grad_(true);
            var conv = new Models.PaddedOutputConv2d(inCh, outCh);
            using (torch.no_grad())
            using (var weightScale = 0.05.ToScalar())
                conv.Weight.copy_(torch.randn(outCh, inCh, 3, 3, generator: generator).mul_(weightScale));
            var w = conv.Weight.detach();
            var g = torch.randn(2, outCh, size, size, generator: generator);
            conv.call(x).backward([g]);
            conv.Dispose();
            var reference = nn.functional.conv_transpose2d(g.to(float64), w.to(float64), padding: [1, 1]);   // d(Σ g·conv(x))/dx
            double e = x.grad!.to(float64).sub(reference).abs().max().item<double>();
            if (double.IsNaN(e)) return double.NaN;
            worst = Math.Max(worst, e);
        }
        return worst;
    }

    /// <summary>Whether libtorch uses oneDNN for convolutions now.</summary>
    public static bool OneDnnEnabled() => UserEnabledMkldnn(GlobalContext());

    /// <summary>Whether libtorch may try NNPACK for convolutions now.</summary>
    public static bool NnpackEnabled() => UserEnabledNnpack(GlobalContext());

    /// <summary>Turns oneDNN on or off for the whole process.</summary>
    public static void SetOneDnn(bool enabled)
    {
        SetUserEnabledMkldnn(GlobalContext(), enabled);
        // Without oneDNN libtorch tries NNPACK first, which refuses these CPUs with a warning per
        // convolution shape; its own im2col + GEMM path is the one wanted.
        if (!enabled) SetUserEnabledNnpack(GlobalContext(), false);
    }

    // at::globalContext() and at::Context::{set,}userEnabledMkldnn: TorchSharp exposes no switch for
    // oneDNN, so the two C++ entry points are called directly (Itanium ABI: `this` first).
    [DllImport("libtorch_cpu", EntryPoint = "_ZN2at13globalContextEv")]
    static extern IntPtr GlobalContext();

    [DllImport("libtorch_cpu", EntryPoint = "_ZN2at7Context20setUserEnabledMkldnnEb")]
    static extern void SetUserEnabledMkldnn(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [DllImport("libtorch_cpu", EntryPoint = "_ZN2at7Context20setUserEnabledNNPACKEb")]
    static extern void SetUserEnabledNnpack(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [DllImport("libtorch_cpu", EntryPoint = "_ZNK2at7Context17userEnabledNNPACKEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    static extern bool UserEnabledNnpack(IntPtr context);

    [DllImport("libtorch_cpu", EntryPoint = "_ZNK2at7Context17userEnabledMkldnnEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    static extern bool UserEnabledMkldnn(IntPtr context);
}
