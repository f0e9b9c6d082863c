using HpfDet.Data;
using HpfDet.Models;
using HpfDet.Training;
using TorchSharp;
using static TorchSharp.torch;
using DataLoader = HpfDet.Data.DataLoader;

namespace HpfDet.Benchmarks;

/// <summary>
/// Where a trained detector's activations blow up: for every validation image of its run (test transforms, one at a
/// time, evaluation mode), the largest magnitude after the backbone's last stage, after the neck, of the class
/// logits and of the box regression, one line per image. An image whose detections degenerate stands out in the
/// stage where its numbers leave the others'. Then, per BatchNorm of the neck, its smallest running variance and
/// largest gain |weight| / sqrt(var + eps).
/// Run: dotnet run -c Release --project bench/HpfDet.Benchmarks -- activations RUN/checkpoints/last.ckpt
/// </summary>
public static class ActivationProbe
{
    public static void Run(string checkpoint, TextWriter output)
    {
        TorchRuntime.EnsureCorrectConvolutions();
        var (loaded, config, classNames) = Checkpoint.LoadDetector(checkpoint);
        using var model = loaded;
        var (_, val) = config.LoadDatasets();
        var loader = new DataLoader(val, config.TestTransforms(), config.InputNormalization(), new DataLoaderOptions(1, 0, Shuffle: false));
        output.WriteLine("image\tC5 max|x|\tneck max|x|\tclass logit max\tbox regression max|x|");
        using var _ = torch.no_grad();
        foreach (var batch in loader.Epoch(0))
        {
            using var scope = torch.NewDisposeScope();
            using var __ = batch;
            var stages = model.Backbone.call(batch.Images);
            var neck = model.Neck.call(stages);
            var head = model.Head.call(neck);
            static float MaxAbs(IEnumerable<Tensor> ts) => ts.Max(t => t.abs().max().item<float>());
            output.WriteLine($"{val.Samples[batch.Meta[0].DatasetIndex].FileName}\t{MaxAbs([stages[^1]]):G4}\t{MaxAbs(neck):G4}\t" +
                $"{head.ClassLogits.Max(t => t.max().item<float>()):G4}\t{MaxAbs(head.BoxRegression):G4}");
        }
        // A channel whose running variance is tiny divides whatever reaches it at evaluation by almost nothing.
        using var normScope = torch.NewDisposeScope();
        foreach (var (name, buffer) in model.Neck.named_buffers().Where(b => b.name.EndsWith("running_var")))
        {
            var weight = model.Neck.named_parameters().First(p => p.name == name.Replace("running_var", "weight")).parameter;
            var gain = (weight.abs() / (buffer + 1e-5).sqrt()).max().item<float>();
            output.WriteLine($"neck {name}: smallest running variance {buffer.min().item<float>():G3}, largest |weight| / sqrt(var + eps) {gain:G4}");
        }
    }
}
