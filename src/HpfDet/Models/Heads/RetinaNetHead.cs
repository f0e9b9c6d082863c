using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HpfDet.Models.Heads;

/// <summary>Options of <see cref="RetinaNetHead"/>.</summary>
/// <param name="NumClasses">Object classes C (sigmoid classification, no background output).</param>
/// <param name="InChannels">Channels of each FPN level, kept by the stacked convs (torchvision: 256).</param>
/// <param name="StackedConvs">3×3 conv + ReLU blocks per branch (torchvision: 4).</param>
/// <param name="AnchorsPerLocation">Anchors per location A (torchvision: 9).</param>
/// <param name="PriorProbability">Initial foreground probability of the classifier bias (0.01).</param>
/// <param name="NormGroups">Null: torchvision's RetinaNet head (conv with bias + ReLU). Set: GroupNorm with that many groups
/// after each stacked conv (without bias), as torchvision's retinanet_resnet50_fpn_v2 head; its features keep their scale,
/// so it trains in far fewer iterations.</param>
public sealed record RetinaNetHeadOptions(int NumClasses, int InChannels = 256, int StackedConvs = 4, int AnchorsPerLocation = 9, double PriorProbability = 0.01, int? NormGroups = null);

/// <summary>
/// torchvision's RetinaNet head: a classification and a regression branch of stacked 3×3 conv (with
/// bias) + ReLU shared across levels, then a 3×3 predictor of A·C logits and of A·4 box deltas.
/// Parameter names are torchvision's state-dict names (classification_head.conv.0.0.weight, ...,
/// regression_head.bbox_reg.bias), and so is the initialisation: normal(0, 0.01) weights, zero
/// biases, the classifier bias -log((1-p)/p).
/// </summary>
public sealed class RetinaNetHead : nn.Module<Tensor[], DenseHeadOutputs>
{
    readonly Branch classification_head;
    readonly Branch regression_head;

    public RetinaNetHeadOptions Options { get; }

    public RetinaNetHead(RetinaNetHeadOptions options) : base(nameof(RetinaNetHead))
    {
        Options = options;
        if (options.NumClasses < 1) throw new ArgumentOutOfRangeException(nameof(options), $"NumClasses must be >= 1, got {options.NumClasses}.");
        int a = options.AnchorsPerLocation;
        if (options.NormGroups is { } g && (g < 1 || options.InChannels % g != 0))
            throw new ArgumentOutOfRangeException(nameof(options), $"RetinaNet head: {options.InChannels} channels are not a multiple of {g} GroupNorm groups.");
        classification_head = new Branch(options.InChannels, options.StackedConvs, options.NormGroups, "cls_logits", a * options.NumClasses, -Math.Log((1 - options.PriorProbability) / options.PriorProbability));
        regression_head = new Branch(options.InChannels, options.StackedConvs, options.NormGroups, "bbox_reg", a * 4, 0.0);
        RegisterComponents();
    }

    /// <summary>Per-level outputs for FPN features [B, InChannels, H_l, W_l].</summary>
    public override DenseHeadOutputs forward(Tensor[] features) =>
        new(features.Select(classification_head.call).ToArray(), features.Select(regression_head.call).ToArray());

    /// <summary>One branch: <c>conv</c> (i.0 = 3×3 conv, i.1 = ReLU; with GroupNorm i.1 = GroupNorm, i.2 = ReLU) and a predictor under its torchvision name.</summary>
    sealed class Branch : nn.Module<Tensor, Tensor>
    {
        readonly Sequential conv;
        readonly PaddedOutputConv2d predictor;
        readonly double predictorBias;

        public Branch(int channels, int stackedConvs, int? normGroups, string predictorName, int outputs, double predictorBias) : base(predictorName)
        {
            conv = nn.Sequential(Enumerable.Range(0, stackedConvs).Select(i => ($"{i}", (nn.Module<Tensor, Tensor>)(normGroups is { } groups
                ? nn.Sequential(("0", nn.Conv2d(channels, channels, 3, padding: 1, bias: false)), ("1", nn.GroupNorm(groups, channels)), ("2", nn.ReLU()))
                : nn.Sequential(("0", nn.Conv2d(channels, channels, 3, padding: 1)), ("1", nn.ReLU()))))).ToArray());
            predictor = new PaddedOutputConv2d(channels, outputs);
            this.predictorBias = predictorBias;
            register_module("conv", conv);
            register_module(predictorName, predictor);
            // torchvision's initialisation: normal(0, 0.01) weights, zero biases, then the predictor's bias.
            HeadInit.NormalConvs(this);
            using var _ = torch.no_grad();
            using var bias = predictorBias.ToScalar();
            predictor.Bias.fill_(bias);
        }

        public override Tensor forward(Tensor x) => predictor.call(conv.call(x));
    }
}
