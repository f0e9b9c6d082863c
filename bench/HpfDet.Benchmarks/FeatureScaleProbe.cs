using HpfDet.Data;
using HpfDet.Models;
using HpfDet.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Benchmarks;

/// <summary>
/// How large a trained checkpoint's backbone features have become: the first validation batch of its run
/// (test transforms) through the backbone in evaluation mode, mean / std / max per output stage, beside the
/// same detector freshly built from its configuration (ImageNet backbone). For a neck that normalises its
/// input with a BatchNorm (YOLOF's lateral conv), also how far that BatchNorm's running mean lies from the
/// batch's channel means, in running standard deviations: what evaluation sees and training does not.
/// Run: dotnet run -c Release --project bench/HpfDet.Benchmarks -- feature-scale RUN/checkpoints/last.ckpt
/// </summary>
public static class FeatureScaleProbe
{
    public static void Run(string checkpoint, TextWriter output)
    {
        TorchRuntime.EnsureCorrectConvolutions();
        var (loaded, config, classNames) = Checkpoint.LoadDetector(checkpoint);
        using var trained = loaded;
        using var fresh = config.BuildDetector(classNames.Count, loadPretrained: config.Model.Pretrained);
        var (_, val) = config.LoadDatasets();
        var loader = new DataLoader(val, config.TestTransforms(), config.InputNormalization(),
            new DataLoaderOptions(config.Train.Batch, 0, Shuffle: false));
        using var batch = loader.Epoch(0).First();
        output.WriteLine($"{checkpoint} (iteration {Checkpoint.ReadInfo(checkpoint).Iteration}), {batch.Count} validation images [{string.Join("x", batch.Images.shape)}]");
        foreach (var (name, model) in new[] { ("trained", trained), ("fresh", fresh) })
        {
            using var scope = torch.NewDisposeScope();
            using var _ = torch.no_grad();
            model.eval();
            var stages = model.Backbone.call(batch.Images);
            for (int i = 0; i < stages.Length; i++)
                output.WriteLine($"  {name,-7} stage {i} [{string.Join(",", stages[i].shape)}]: mean {stages[i].mean().item<float>():G4}, " +
                    $"std {stages[i].std().item<float>():G4}, max {stages[i].max().item<float>():G4}");
            var parameters = model.Neck.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            var buffers = model.Neck.named_buffers().ToDictionary(b => b.name, b => b.buffer);
            // A fresh build's running statistics are the initial 0 and 1: compared for the trained model only.
            if (model == trained && parameters.TryGetValue("lateral_conv.weight", out var weight) && buffers.TryGetValue("lateral_norm.running_mean", out var runningMean))
            {
                var lateral = nn.functional.conv2d(stages[^1], weight, parameters["lateral_conv.bias"]);
                var batchMean = lateral.mean([0, 2, 3]);
                var runningStd = buffers["lateral_norm.running_var"].sqrt();
                output.WriteLine($"  {name,-7} lateral BatchNorm: |batch mean - running mean| / running std, mean over channels " +
                    $"{((batchMean - runningMean).abs() / runningStd).mean().item<float>():G3}; batch std / running std " +
                    $"{(lateral.std([0, 2, 3]) / runningStd).mean().item<float>():G3}");
            }
        }
    }
}
