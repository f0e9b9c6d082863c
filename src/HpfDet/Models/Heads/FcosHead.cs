using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HpfDet.Models.Heads;

/// <summary>Options of <see cref="FcosHead"/> (torchvision FCOS's head).</summary>
/// <param name="NumClasses">Object classes C (sigmoid classification).</param>
/// <param name="InChannels">Channels of each FPN level.</param>
/// <param name="FeatChannels">Channels of the stacked convs (torchvision: the input channels; a multiple of <paramref name="NumGroups"/>).</param>
/// <param name="StackedConvs">3×3 conv (with bias) + GroupNorm + ReLU blocks per branch (4).</param>
/// <param name="NumGroups">GroupNorm groups (32, torchvision 0.14's norm_layer).</param>
/// <param name="PriorProbability">Initial foreground probability of the classifier bias (0.01).</param>
public sealed record FcosHeadOptions(int NumClasses, int InChannels = 256, int FeatChannels = 256, int StackedConvs = 4, int NumGroups = 32, double PriorProbability = 0.01);

/// <summary>
/// torchvision 0.14's FCOSHead: a classification and a regression branch of stacked 3×3 conv + GroupNorm
/// + ReLU shared across levels; the classifier, the (l, t, r, b) regressor followed by ReLU, and the
/// centerness predictor on the regression branch. Parameter names are torchvision's state-dict names
/// (classification_head.conv.0.weight, ..., regression_head.bbox_ctrness.bias).
/// </summary>
public sealed class FcosHead : nn.Module<Tensor[], DenseHeadOutputs>
{
    /// <summary>Name of the centerness output in <see cref="DenseHeadOutputs.Extra"/>.</summary>
    public const string CenternessTerm = "centerness";

    readonly Branch classification_head;
    readonly Branch regression_head;

    public FcosHeadOptions Options { get; }

    public FcosHead(FcosHeadOptions options) : base(nameof(FcosHead))
    {
        Options = options;
        if (options.NumClasses < 1) throw new ArgumentOutOfRangeException(nameof(options), $"NumClasses must be >= 1, got {options.NumClasses}.");
        if (options.FeatChannels % options.NumGroups != 0)
            throw new ArgumentOutOfRangeException(nameof(options), $"FeatChannels ({options.FeatChannels}) must be a multiple of NumGroups ({options.NumGroups}) for GroupNorm.");
        classification_head = new Branch(options, ("cls_logits", options.NumClasses));
        regression_head = new Branch(options, ("bbox_reg", 4), ("bbox_ctrness", 1));
        RegisterComponents();
        HeadInit.PriorBias(classification_head.Predictors[0], options.PriorProbability);
    }

    /// <summary>Per-level outputs for FPN features [B, InChannels, H_l, W_l].</summary>
    public override DenseHeadOutputs forward(Tensor[] features)
    {
        var cls = new Tensor[features.Length];
        var reg = new Tensor[features.Length];
        var ctr = new Tensor[features.Length];
        for (int l = 0; l < features.Length; l++)
        {
            cls[l] = classification_head.Forward(features[l])[0];
            var r = regression_head.Forward(features[l]);
            reg[l] = nn.functional.relu(r[0]);
            ctr[l] = r[1];
        }
        return new DenseHeadOutputs(cls, reg, new Dictionary<string, Tensor[]> { [CenternessTerm] = ctr });
    }

    /// <summary>One branch: a flat Sequential "conv" (conv, GroupNorm, ReLU, ...) and its predictors.</summary>
    sealed class Branch : nn.Module
    {
        readonly Sequential conv;

        public PaddedOutputConv2d[] Predictors { get; }

        public Branch(FcosHeadOptions o, params (string Name, int PerPrior)[] predictors) : base(nameof(Branch))
        {
            var layers = new List<(string, nn.Module<Tensor, Tensor>)>();
            for (int i = 0; i < o.StackedConvs; i++)
            {
                layers.Add(($"{3 * i}", nn.Conv2d(i == 0 ? o.InChannels : o.FeatChannels, o.FeatChannels, 3, padding: 1)));
                layers.Add(($"{3 * i + 1}", nn.GroupNorm(o.NumGroups, o.FeatChannels)));
                layers.Add(($"{3 * i + 2}", nn.ReLU()));
            }
            conv = nn.Sequential(layers);
            int branch = o.StackedConvs > 0 ? o.FeatChannels : o.InChannels;
            Predictors = predictors.Select(p => new PaddedOutputConv2d(branch, p.PerPrior)).ToArray();
            for (int i = 0; i < predictors.Length; i++) register_module(predictors[i].Name, Predictors[i]);
            RegisterComponents();
            // torchvision: Normal(0, 0.01) weights and zero biases for every conv; GroupNorm as identity.
            HeadInit.NormalConvs(this);
        }

        public Tensor[] Forward(Tensor x)
        {
            var features = conv.call(x);
            return Predictors.Select(p => p.call(features)).ToArray();
        }
    }
}
