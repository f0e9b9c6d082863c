using HpfDet.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HpfDet.Tests.Training;

/// <summary>SgdMomentum against updates worked out by hand (torch.optim.SGD's rule, lr scaled per parameter).</summary>
public class SgdMomentumTests
{
    /// <summary>
    /// Two parameters start at [1, 2] with the constant gradient [3, 4] (loss Σ w·[3, 4]); lr 0.3, momentum 0.9,
    /// weight decay 0.1; the one named "backbone.w" has a third of the learning rate.
    /// Step 1: d = g + 0.1·w = [3.1, 4.2] = b; head w = [1, 2] − 0.3·b = [0.07, 0.74], backbone w = [1, 2] − 0.1·b = [0.69, 1.58].
    /// Step 2: head d = [3.007, 4.074], b = 0.9·[3.1, 4.2] + d = [5.797, 7.854], w = [0.07, 0.74] − 0.3·b = [−1.6691, −1.6162];
    /// backbone d = [3.069, 4.158], b = [5.859, 7.938], w = [0.69, 1.58] − 0.1·b = [0.1041, 0.7862].
    /// The momentum buffer holds the unscaled update, as in torch.optim.SGD with per-group learning rates.
    /// </summary>
    [Fact]
    public void ALearningRateMultiplierScalesTheStepOfTheParametersItNames()
    {
        using var scope = torch.NewDisposeScope();
        var head = new Parameter(torch.tensor(new double[] { 1, 2 }));
        var backbone = new Parameter(torch.tensor(new double[] { 1, 2 }));
        var gradient = torch.tensor(new double[] { 3, 4 });
        using var sgd = new SgdMomentum([("head.w", head), ("backbone.w", backbone)], momentum: 0.9, weightDecay: 0.1,
            lrMultiplier: name => name.StartsWith("backbone.") ? 1.0 / 3 : 1.0);
        Assert.Equal(1.0, sgd.LearningRateMultiplier("head.w"));
        Assert.Equal(1.0 / 3, sgd.LearningRateMultiplier("backbone.w"), 12);
        double[][] expectedHead = [[0.07, 0.74], [-1.6691, -1.6162]];
        double[][] expectedBackbone = [[0.69, 1.58], [0.1041, 0.7862]];
        for (int step = 0; step < 2; step++)
        {
            sgd.ZeroGrad();
            (head * gradient + backbone * gradient).sum().backward();
            sgd.Step(0.3);
            var h = head.detach().data<double>().ToArray();
            var bb = backbone.detach().data<double>().ToArray();
            for (int i = 0; i < 2; i++)
            {
                Assert.Equal(expectedHead[step][i], h[i], 9);
                Assert.Equal(expectedBackbone[step][i], bb[i], 9);
            }
        }
    }

    /// <summary>train.backbone_lr_mult reaches the trainer's options (1 when unset); TrainerTests checks that the trainer applies it to the backbone only.</summary>
    [Fact]
    public void TheConfigurationsBackboneMultiplierGoesToTheTrainerOptions()
    {
        var config = new RunConfig();
        config.Set("train.backbone_lr_mult", "0.25");
        Assert.Equal(0.25, config.TrainerOptions().BackboneLrMultiplier);
        Assert.Equal(1.0, new RunConfig().TrainerOptions().BackboneLrMultiplier);
    }
}
