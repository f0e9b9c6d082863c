using HpfDet.Models;
using HpfDet.Tests.Detectors;
using HpfDet.Tests.Infrastructure;
using HpfDet.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Training;

/// <summary>train.precision: bf16 — a bfloat16 working copy trained through float32 master weights.</summary>
public class BFloat16TrainingTests
{
    static DetectionTarget[] Targets() =>
    [
        new(torch.tensor(new float[] { 10, 12, 60, 58, 70, 20, 120, 90 }).reshape(2, 4), torch.tensor(new long[] { 0, 2 })),
        new(torch.tensor(new float[] { 30, 30, 100, 80 }).reshape(1, 4), torch.tensor(new long[] { 1 })),
    ];

    /// <summary>
    /// One SGD step from the same weights and images, float32 against the bf16 working copy: the masters stay
    /// float32 and move as the float32 weights do (within bfloat16's precision), and the working copy holds the
    /// masters rounded to bfloat16 afterwards.
    /// </summary>
    [Fact]
    public void ABFloat16StepMovesTheFloat32MastersAsAFloat32StepMovesTheWeights()
    {
        using var scope = torch.NewDisposeScope();
        // A model whose weights come from a generator of its own (as every Tiny* fixture's should), so the
        // margins below were measured on the very model this test builds, whatever tests run beside it.
        var a = DetectorFixtures.TinyFcos(3, seed: 21);
        var b = DetectorFixtures.TinyFcos(3, seed: 21);
        using (torch.no_grad())
            foreach (var ((_, pa), (_, pb)) in a.state_dict().Zip(b.state_dict())) pb.copy_(pa);
        var before = a.named_parameters().Where(p => p.parameter.requires_grad).ToDictionary(p => p.name, p => p.parameter.detach().clone());
        var images = torch.randn([2, 3, 128, 160], generator: new Generator(5));
        using var optA = new SgdMomentum(a.named_parameters(), 0.9, 1e-4);
        using var optB = new SgdMomentum(b.named_parameters(), 0.9, 1e-4);
        using var bf16 = BFloat16Training.Start(b, optB);
        Assert.True(b.ComputesInBFloat16);
        foreach (var (m, opt) in new[] { (a, optA), (b, optB) })
        {
            m.train();
            var losses = m.ComputeLosses(images, Targets());
            opt.ZeroGrad();
            losses.Total.backward();
            opt.Step(0.01);
        }
        var working = b.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        double worst = 0, differenceSquared = 0, stepSquared = 0;
        foreach (var (name, p) in a.named_parameters().Where(p => p.parameter.requires_grad))
        {
            var master = bf16.MasterState[name];
            Assert.Equal(ScalarType.Float32, master.dtype);
            Assert.Equal(ScalarType.BFloat16, working[name].dtype);
            Assert.True(working[name].to(ScalarType.Float32).eq(master.to(ScalarType.BFloat16).to(ScalarType.Float32)).all().item<bool>(), $"{name}: the working copy is not the master rounded to bfloat16");
            var stepA = p.detach() - before[name];
            var stepB = master - before[name];
            double norm = stepA.norm().item<float>(), difference = (stepA - stepB).norm().item<float>();
            stepSquared += norm * norm;
            differenceSquared += difference * difference;
            if (norm < 1e-7) continue;
            worst = Math.Max(worst, difference / norm);
        }
        // bfloat16 keeps 8 bits of mantissa (relative rounding 0.4% per operation), and the rounding adds up
        // through the network: over 24 seeds of this model the whole update differed by 3-7% and the worst
        // single tensor (a backbone BatchNorm or convolution of the random, untrained backbone) by 12-22%.
        // A wrong update — masters not moved, a gradient applied to another tensor, a scale lost — differs
        // by 100% or more, so the bounds sit well above the rounding and well below that.
        double whole = Math.Sqrt(differenceSquared / stepSquared);
        Assert.True(whole < 0.15, $"relative difference of the whole update: {whole:F3}");
        Assert.True(worst < 0.5, $"largest relative difference of one parameter's update: {worst:F3}");
    }

    /// <summary>A bf16 run's checkpoint is an ordinary float32 checkpoint of the masters; resume continues from it in bf16.</summary>
    [Fact]
    public void ABFloat16RunCheckpointsFloat32MastersThatLoadAndResume()
    {
        var data = DetectorFixtures.Shapes(4, size: 96, maxObject: 48);
        using var dir = TestPaths.NewTempDir();
        var options = new TrainerOptions(Epochs: 2, WarmupIterations: 1, EvaluateEveryEpochs: 0, MaxIterations: 2, Precision: ComputePrecision.BFloat16);
        var model = DetectorFixtures.TinyAtss(6, seed: 4);
        string last;
        using (var trainer = new Trainer(model, DetectorFixtures.TrainLoader(data, 96), options, dir, data.ClassNames))
            last = trainer.Run().LastCheckpoint;
        Assert.True(model.ComputesInBFloat16);
        var (info, tensors) = Checkpoint.Load(last);
        try
        {
            Assert.Equal(2, info.Iteration);
            var modelTensors = tensors.Where(kv => kv.Key.StartsWith("model.")).ToList();
            Assert.NotEmpty(modelTensors);
            Assert.All(modelTensors.Where(kv => kv.Value.is_floating_point()), kv => Assert.Equal(ScalarType.Float32, kv.Value.dtype));
            // The masters are the weights: the working copy is them rounded to bfloat16.
            var working = model.state_dict();
            foreach (var (name, t) in modelTensors.Where(kv => kv.Value.is_floating_point()))
                Assert.True(working[name["model.".Length..]].to(ScalarType.Float32).eq(t.to(ScalarType.BFloat16).to(ScalarType.Float32)).all().item<bool>(), name);
            var fresh = DetectorFixtures.TinyAtss(6, seed: 9);
            Checkpoint.ApplyToModel(tensors, fresh, last);
            fresh.eval();
            using var _ = torch.no_grad();
            Assert.NotNull(fresh.Predict(torch.randn([1, 3, 96, 96], generator: new Generator(2))));
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
        var resumed = DetectorFixtures.TinyAtss(6, seed: 9);
        using var again = new Trainer(resumed, DetectorFixtures.TrainLoader(data, 96), options with { MaxIterations = 3 }, dir, data.ClassNames);
        again.Resume(last);
        var result = again.Run();
        Assert.Equal(3, result.Iteration);
        Assert.True(resumed.ComputesInBFloat16);
    }

    [Fact]
    public void TheConfigRefusesBf16WhereItCannotRun()
    {
        var config = new RunConfig();
        config.Set("train.precision", "bf16");
        config.Set("model.name", "atss-r50");
        Assert.Contains(config.ValidationProblems(loadingPretrainedWeights: false), p => p.Contains("train.precision") && p.Contains("ResNet-50"));
        config.Set("model.name", "atss-r18");
        config.Set("model.norm_eval", "false");
        Assert.Contains(config.ValidationProblems(loadingPretrainedWeights: false), p => p.Contains("train.precision") && p.Contains("norm_eval"));
        config.Set("train.precision", "fp16");
        Assert.Contains(config.ValidationProblems(loadingPretrainedWeights: false), p => p.Contains("train.precision") && p.Contains("fp32"));
    }
}
