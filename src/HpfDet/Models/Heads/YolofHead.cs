using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HpfDet.Models.Heads;

/// <summary>Options of <see cref="YolofHead"/> (defaults: YOLOF's, as mmdetection 2.x's yolof_r50_c5_8x8_1x).</summary>
/// <param name="NumClasses">Object classes C (sigmoid classification, no background output).</param>
/// <param name="InChannels">Channels of the encoder's level, kept by the stacked convs (512).</param>
/// <param name="ClassConvs">3×3 conv + BatchNorm + ReLU blocks of the classification branch (2).</param>
/// <param name="RegressionConvs">3×3 conv + BatchNorm + ReLU blocks of the regression branch (4).</param>
/// <param name="AnchorsPerLocation">Anchors per location A (5: one per scale).</param>
/// <param name="PriorProbability">Initial foreground probability of the classifier bias (0.01).</param>
public sealed record YolofHeadOptions(int NumClasses, int InChannels = 512, int ClassConvs = 2, int RegressionConvs = 4, int AnchorsPerLocation = 5, double PriorProbability = 0.01);

/// <summary>
/// YOLOF's head (mmdetection 2.x's YOLOFHead) on one level: a classification branch and a regression branch of
/// 3×3 conv (no bias) + BatchNorm + ReLU, a 3×3 classifier on the first, a 3×3 box-delta regressor and a 3×3
/// objectness predictor on the second. The class logits it returns carry the implicit objectness:
/// x̂ = x + o - log(1 + min(eˣ, 1e8) + min(eᵒ, 1e8)), so that σ(x̂) = σ(x)·σ(o) while neither exponential
/// overflows. Its BatchNorms train with batch statistics. Parameter names are mmdetection's.
/// </summary>
public sealed class YolofHead : nn.Module<Tensor[], DenseHeadOutputs>
{
    /// <summary>Where mmdetection clamps eˣ and eᵒ in the implicit objectness.</summary>
    public const double ExpClamp = 1e8;

    readonly Sequential cls_subnet;
    readonly Sequential bbox_subnet;
    readonly PaddedOutputConv2d cls_score;
    readonly PaddedOutputConv2d bbox_pred;
    readonly PaddedOutputConv2d object_pred;

    public YolofHeadOptions Options { get; }

    public YolofHead(YolofHeadOptions options) : base(nameof(YolofHead))
    {
        Options = options;
        if (options.NumClasses < 1) throw new ArgumentOutOfRangeException(nameof(options), $"NumClasses must be >= 1, got {options.NumClasses}.");
        if (options.InChannels < 1 || options.ClassConvs < 0 || options.RegressionConvs < 0 || options.AnchorsPerLocation < 1)
            throw new ArgumentOutOfRangeException(nameof(options), $"YolofHeadOptions: positive channels and anchors, non-negative conv counts; got {options}.");
        int c = options.InChannels, a = options.AnchorsPerLocation;
        cls_subnet = Subnet(c, options.ClassConvs);
        bbox_subnet = Subnet(c, options.RegressionConvs);
        cls_score = new PaddedOutputConv2d(c, a * options.NumClasses);
        bbox_pred = new PaddedOutputConv2d(c, a * 4);
        object_pred = new PaddedOutputConv2d(c, a);
        RegisterComponents();
        // Every conv normal(0, 0.01) with zero bias, BatchNorm as identity; the classifier bias at the prior.
        HeadInit.NormalConvs(this);
        HeadInit.PriorBias(cls_score, options.PriorProbability);
    }

    static Sequential Subnet(int channels, int convs) => nn.Sequential(Enumerable.Range(0, convs).Select(i => ($"{i}", (nn.Module<Tensor, Tensor>)nn.Sequential(
        ("conv", nn.Conv2d(channels, channels, 3, padding: 1, bias: false)),
        ("bn", nn.BatchNorm2d(channels)),
        ("activate", nn.ReLU())))).ToArray());

    /// <summary>One level [B, InChannels, H, W] → class logits with implicit objectness [B, A·C, H, W] and box deltas [B, A·4, H, W].</summary>
    public override DenseHeadOutputs forward(Tensor[] features)
    {
        if (features.Length != 1)
            throw new ArgumentException($"YolofHead works on one level, got {features.Length}.", nameof(features));
        var x = features[0];
        var logits = cls_score.call(cls_subnet.call(x));
        var regressionFeatures = bbox_subnet.call(x);
        var deltas = bbox_pred.call(regressionFeatures);
        var objectness = object_pred.call(regressionFeatures);
        return new DenseHeadOutputs([ImplicitObjectness(logits, objectness, Options.NumClasses)], [deltas]);
    }

    /// <summary>
    /// x̂ = x + o - log(1 + min(eˣ, 1e8) + min(eᵒ, 1e8)) for class logits [B, A·C, H, W] and objectness
    /// [B, A, H, W] (each anchor's objectness applies to its C classes) → [B, A·C, H, W].
    /// </summary>
    public static Tensor ImplicitObjectness(Tensor classLogits, Tensor objectness, int numClasses)
    {
        using var scope = torch.NewDisposeScope();
        long b = classLogits.shape[0], h = classLogits.shape[2], w = classLogits.shape[3];
        var cls = classLogits.reshape(b, -1, numClasses, h, w);
        var obj = objectness.reshape(b, -1, 1, h, w);
        using var clamp = ExpClamp.ToScalar();
        var denominator = cls.exp().clamp_max(clamp).add(obj.exp().clamp_max(clamp), ScalarConstants.One)
            .add(ScalarConstants.OneDouble, ScalarConstants.One).log();
        return (cls.add(obj, ScalarConstants.One) - denominator).reshape(b, -1, h, w).MoveToOuterDisposeScope();
    }
}
