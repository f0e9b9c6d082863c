using HpfDet.Models;
using HpfDet.Training;

namespace HpfDet.Cli;

/// <summary>Rebuilds a trained detector from a checkpoint and the configuration stored in it.</summary>
public static class CheckpointModel
{
    /// <param name="path">The checkpoint.</param>
    /// <param name="precision">Inference precision: bfloat16 prepares the model for inference only
    /// (<see cref="DenseDetector.PrepareForInference"/>); float32 leaves it as trained, in evaluation mode.</param>
    public static (DenseDetector Model, RunConfig Config, IReadOnlyList<string> ClassNames) Load(string path, ComputePrecision precision = ComputePrecision.Float32)
    {
        // The header first: a checkpoint whose configuration cannot build a model is refused before its
        // tensors (tens to hundreds of MB) are read.
        var config = RunConfig.FromJson(Checkpoint.ReadInfo(path).Config);
        config.Validate(loadingPretrainedWeights: false);
        var (info, tensors) = Checkpoint.Load(path);
        try
        {
            var model = config.BuildDetector(info.ClassNames.Count, loadPretrained: false);
            Checkpoint.ApplyToModel(tensors, model, path);
            model.eval();
            if (precision != ComputePrecision.Float32) model.PrepareForInference(precision);
            return (model, config, info.ClassNames);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }
}
