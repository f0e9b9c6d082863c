using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HpfDet.Models.Backbones;

/// <summary>torchvision's ResNet initialisation: Kaiming-normal (fan_out, ReLU) convolutions, BN γ = 1, β = 0; random draws from <see cref="InitGenerator.Current"/>.</summary>
internal static class ResNetInit
{
    internal static void Initialize(nn.Module module)
    {
        using var noGrad = torch.no_grad();
        foreach (var (_, child) in module.named_children())
        {
            switch (child)
            {
                case Conv2d conv:
                    // Kaiming-normal, fan_out, ReLU gain: std = √(2 / (O·k·k)), drawn from the scoped generator.
                    var w = conv.weight!;
                    w.normal_(0, Math.Sqrt(2.0 / (w.shape[0] * w.shape[2] * w.shape[3])), InitGenerator.Current);
                    break;
                case BatchNorm2d norm:
                    nn.init.ones_(norm.weight!);
                    nn.init.zeros_(norm.bias!);
                    break;
                case Sequential seq:
                    Initialize(seq);
                    break;
            }
        }
    }
}
