using HpfDet.Models;
using HpfDet.Training;

namespace HpfDet.Cli;

/// <summary>Rebuilds a trained detector from a checkpoint and the configuration stored in it.</summary>
public static class CheckpointModel
{
    /// <param name="path">The checkpoint.</param>
    /// <param name="precision">Inference precision (<see cref="DenseDetector.PrepareForInference"/>): float32 as trained
    /// or bfloat16.</param>
    /// <param name="prepareForInference">Prepare the model for inference only (BatchNorms folded, no gradients, the
    /// precision); false leaves it as trained, in evaluation mode (ONNX export reads the unfolded modules).</param>
    public static (DenseDetector Model, RunConfig Config, IReadOnlyList<string> ClassNames) Load(string path,
        ComputePrecision precision = ComputePrecision.Float32, bool prepareForInference = true)
    {
        if (precision == ComputePrecision.BFloat16 && CpuFeatures.BFloat16Warning("--precision bf16") is { } bf16Warning) Console.WriteLine(bf16Warning);
        var (model, config, classNames) = Checkpoint.LoadDetector(path);
        if (prepareForInference) model.PrepareForInference(precision);
        return (model, config, classNames);
    }
}
