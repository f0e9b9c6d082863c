using HpfDet.Models;
using HpfDet.Training;

namespace HpfDet.Cli;

/// <summary>Rebuilds a trained detector from a checkpoint and the configuration stored in it.</summary>
public static class CheckpointModel
{
    public static (DenseDetector Model, RunConfig Config, IReadOnlyList<string> ClassNames) Load(string path)
    {
        var (info, tensors) = Checkpoint.Load(path);
        try
        {
            var config = RunConfig.FromJson(info.Config);
            var model = config.BuildDetector(info.ClassNames.Count, loadPretrained: false);
            Checkpoint.ApplyToModel(tensors, model, path);
            model.eval();
            return (model, config, info.ClassNames);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }
}
