using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HpfDet.Models.Necks;

/// <summary>Options of <see cref="Fpn"/> (mmdetection's FPN as ATSS configures it).</summary>
/// <param name="InChannels">Channels of the backbone maps fed in, finest first (e.g. C3, C4, C5).</param>
/// <param name="OutChannels">Channels of every output level.</param>
/// <param name="NumOutputs">Output levels: the inputs' count plus extra stride-2 levels (5 = P3..P7 from C3..C5).</param>
/// <param name="ExtraConvsOnOutput">Extra levels are 3x3 stride-2 convolutions of the last FPN output (P5)
/// (add_extra_convs='on_output'); false: max-pool subsampling (kernel 1, stride 2) of the last output.</param>
/// <param name="ReluBeforeExtraConvs">ReLU before each extra convolution after the first (relu_before_extra_convs).</param>
/// <param name="ExtraConvsOnInput">With <paramref name="ExtraConvsOnOutput"/>: the first extra convolution reads the last backbone map
/// (C5) instead of the last FPN output (add_extra_convs='on_input').</param>
public sealed record FpnOptions(
    int[] InChannels,
    int OutChannels = 256,
    int NumOutputs = 5,
    bool ExtraConvsOnOutput = true,
    bool ReluBeforeExtraConvs = false,
    bool ExtraConvsOnInput = false);

/// <summary>
/// Feature pyramid network (Lin et al. 2017) with mmdetection's semantics: 1x1 lateral convolutions,
/// top-down nearest-neighbour upsampling to each lateral's size, 3x3 output convolutions, then extra
/// stride-2 levels. Convolutions have biases; weights are Xavier-uniform, biases zero (mmdetection's init).
/// </summary>
public sealed class Fpn : nn.Module<Tensor[], Tensor[]>
{
    // Field names are the state-dict names.
    private readonly ModuleList<Conv2d> lateral_convs;
    private readonly ModuleList<Conv2d> fpn_convs;

    /// <summary>Creates the FPN with Xavier-uniform weights and zero biases.</summary>
    public Fpn(FpnOptions options) : base(nameof(Fpn))
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
        int levels = options.InChannels.Length;
        if (levels < 1 || options.InChannels.Any(c => c < 1))
            throw new HpfDetException($"FpnOptions.InChannels = [{string.Join(", ", options.InChannels)}]: give at least one positive channel count.");
        if (options.NumOutputs < levels)
            throw new HpfDetException($"FpnOptions.NumOutputs = {options.NumOutputs} is below the {levels} input levels: use at least {levels}.");
        if (options.OutChannels < 1)
            throw new HpfDetException($"FpnOptions.OutChannels = {options.OutChannels}: use a positive channel count.");

        lateral_convs = new ModuleList<Conv2d>();
        fpn_convs = new ModuleList<Conv2d>();
        foreach (var c in options.InChannels)
        {
            lateral_convs.Add(nn.Conv2d(c, options.OutChannels, 1));
            fpn_convs.Add(nn.Conv2d(options.OutChannels, options.OutChannels, 3, padding: 1));
        }
        if (options.ExtraConvsOnOutput)
        {
            for (int i = levels; i < options.NumOutputs; i++)
                fpn_convs.Add(nn.Conv2d(i == levels && options.ExtraConvsOnInput ? options.InChannels[^1] : options.OutChannels, options.OutChannels, 3, stride: 2, padding: 1));
        }
        RegisterComponents();

        using var noGrad = torch.no_grad();
        foreach (var conv in lateral_convs.Concat(fpn_convs))
        {
            // Xavier-uniform: bound √(6 / ((I + O)·k·k)), drawn from the scoped generator.
            var w = conv.weight!;
            double bound = Math.Sqrt(6.0 / ((w.shape[0] + w.shape[1]) * w.shape[2] * w.shape[3]));
            w.uniform_(-bound, bound, InitGenerator.Current);
            nn.init.zeros_(conv.bias!);
        }
    }

    /// <summary>The options this neck was built with.</summary>
    public FpnOptions Options { get; }

    /// <summary>
    /// [C_i [N, InChannels[i], H_i, W_i]] finest first → [P_j [N, OutChannels, H_j, W_j]] for NumOutputs
    /// levels: one per input, then each extra level halves the previous (3x3, stride 2, padding 1:
    /// H_{j+1} = ⌊(H_j − 1) / 2⌋ + 1).
    /// </summary>
    public override Tensor[] forward(Tensor[] inputs)
    {
        int levels = Options.InChannels.Length;
        if (inputs.Length != levels)
            throw new ArgumentException($"Expected {levels} feature maps, got {inputs.Length}.", nameof(inputs));
        using var scope = NewDisposeScope();
        var laterals = new Tensor[levels];
        for (int i = 0; i < levels; i++)
            laterals[i] = lateral_convs[i].forward(inputs[i]);
        // Top-down: upsample to the finer lateral's exact size (sizes need not be exact multiples of 2).
        for (int i = levels - 1; i > 0; i--)
        {
            var size = new long[] { laterals[i - 1].shape[2], laterals[i - 1].shape[3] };
            laterals[i - 1] = laterals[i - 1].add(nn.functional.interpolate(laterals[i], size: size, mode: InterpolationMode.Nearest), ScalarConstants.One);
        }
        var outputs = new List<Tensor>(Options.NumOutputs);
        for (int i = 0; i < levels; i++)
            outputs.Add(fpn_convs[i].forward(laterals[i]));
        for (int i = levels; i < Options.NumOutputs; i++)
        {
            if (!Options.ExtraConvsOnOutput)
            {
                outputs.Add(nn.functional.max_pool2d(outputs[^1], 1, stride: 2));
                continue;
            }
            var source = i == levels && Options.ExtraConvsOnInput ? inputs[^1]
                : i > levels && Options.ReluBeforeExtraConvs ? nn.functional.relu(outputs[^1]) : outputs[^1];
            outputs.Add(fpn_convs[i].forward(source));
        }
        return outputs.Select(o => o.MoveToOuterDisposeScope()).ToArray();
    }
}
