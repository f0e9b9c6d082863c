namespace HpfDet.Models.Backbones;

/// <summary>The standard ResNet depths (He et al. 2016), as in torchvision.</summary>
public enum ResNetDepth
{
    /// <summary>BasicBlocks [2, 2, 2, 2].</summary>
    R18 = 18,
    /// <summary>BasicBlocks [3, 4, 6, 3].</summary>
    R34 = 34,
    /// <summary>Bottlenecks [3, 4, 6, 3].</summary>
    R50 = 50,
    /// <summary>Bottlenecks [3, 4, 23, 3].</summary>
    R101 = 101,
}

/// <summary>Options of <see cref="ResNet"/>.</summary>
/// <param name="Depth">Block type and default blocks per stage.</param>
/// <param name="FrozenStages">-1: nothing frozen; 0: the stem (conv1, bn1); k ≥ 1: the stem and layer1..layerk.
/// Frozen parts have requires_grad = false and stay in eval mode (mmdetection's frozen_stages).</param>
/// <param name="NormEval">BatchNorm layers stay in eval mode (running statistics frozen) even when the model
/// trains; their affine weights still train unless frozen (mmdetection's norm_eval).</param>
/// <param name="BlocksPerStage">Overrides the depth's blocks per stage (4 values), e.g. [2, 2, 2, 3] for the
/// ImageNet ResNet-18 ONNX export.</param>
/// <param name="NormAffineTrainable">false: every BatchNorm's weight and bias keep requires_grad = false, so the
/// backbone's normalisation stays the pretrained one (mmdetection's norm_cfg requires_grad=False, YOLOF's recipe).</param>
public sealed record ResNetOptions(
    ResNetDepth Depth = ResNetDepth.R18,
    int FrozenStages = 1,
    bool NormEval = true,
    int[]? BlocksPerStage = null,
    bool NormAffineTrainable = true);
