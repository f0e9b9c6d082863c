using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Training;

/// <summary>Where a checkpoint stands in training, plus the configuration needed to rebuild the model.</summary>
/// <param name="Epoch">0-based epoch in progress (or the next one, when <paramref name="EpochIteration"/> is 0).</param>
/// <param name="EpochIteration">Iterations of that epoch already done.</param>
/// <param name="Iteration">Global iterations done.</param>
/// <param name="ClassNames">Class names, in label order.</param>
/// <param name="Config">The run's effective configuration (free-form JSON written by the front end).</param>
public sealed record CheckpointInfo(int Epoch, int EpochIteration, int Iteration, IReadOnlyList<string> ClassNames, JsonObject? Config = null);

/// <summary>
/// A training checkpoint in one file: a JSON header (<see cref="CheckpointInfo"/>) followed by named
/// tensors (model parameters and buffers under "model.", optimizer state under "optim.", RNG state under
/// "rng."). Written to a temporary file and renamed, so a crash never leaves a half-written checkpoint.
/// </summary>
public static class Checkpoint
{
    const string Magic = "HPFDETCK";
    const int Version = 1;

    /// <summary>Writes the checkpoint atomically.</summary>
    public static void Save(string path, CheckpointInfo info, nn.Module model, SgdMomentum? optimizer)
    {
        using var scope = torch.NewDisposeScope();
        var tensors = new List<(string Name, Tensor Tensor)>();
        foreach (var (name, t) in model.state_dict()) tensors.Add(("model." + name, t));
        if (optimizer is not null)
            foreach (var (name, t) in optimizer.State) tensors.Add(("optim." + name, t));
        using var rng = torch.get_rng_state();
        tensors.Add(("rng.torch", rng));

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var tmp = path + ".tmp";
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write))
        using (var w = new BinaryWriter(fs, Encoding.UTF8))
        {
            w.Write(Encoding.ASCII.GetBytes(Magic));
            w.Write(Version);
            w.Write(JsonSerializer.Serialize(info, TrainingLogJson.Options));
            w.Write(tensors.Count);
            foreach (var (name, t) in tensors)
            {
                using var c = t.detach().cpu().contiguous();
                w.Write(name);
                w.Write((int)c.dtype);
                w.Write((int)c.dim());
                foreach (var d in c.shape) w.Write(d);
                var bytes = c.bytes;
                w.Write(bytes.Length);
                w.Write(bytes);
            }
            fs.Flush(true);
        }
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Reads the header and every tensor (on the CPU).</summary>
    public static (CheckpointInfo Info, Dictionary<string, Tensor> Tensors) Load(string path)
    {
        if (!File.Exists(path))
            throw new HpfDetException($"Checkpoint '{path}' not found. Pass a .ckpt file written by 'hpfdet train' (RUN/checkpoints/last.ckpt).");
        try
        {
            using var fs = File.OpenRead(path);
            using var r = new BinaryReader(fs, Encoding.UTF8);
            var magic = Encoding.ASCII.GetString(r.ReadBytes(Magic.Length));
            if (magic != Magic) throw new HpfDetException($"'{path}' is not an HpfDet checkpoint (bad header). Pass a .ckpt file written by 'hpfdet train'.");
            int version = r.ReadInt32();
            if (version != Version) throw new HpfDetException($"'{path}' is checkpoint version {version}; this build reads version {Version}.");
            var info = JsonSerializer.Deserialize<CheckpointInfo>(r.ReadString(), TrainingLogJson.Options)
                       ?? throw new HpfDetException($"'{path}': empty checkpoint header.");
            int count = r.ReadInt32();
            var tensors = new Dictionary<string, Tensor>(count);
            for (int i = 0; i < count; i++)
            {
                var name = r.ReadString();
                var dtype = (ScalarType)r.ReadInt32();
                int dims = r.ReadInt32();
                var shape = new long[dims];
                for (int d = 0; d < dims; d++) shape[d] = r.ReadInt64();
                int length = r.ReadInt32();
                var data = r.ReadBytes(length);
                if (data.Length != length) throw new EndOfStreamException();
                var t = torch.empty(shape, dtype: dtype);
                t.bytes = data;
                tensors[name] = t.DetachFromDisposeScope();
            }
            return (info, tensors);
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or JsonException or FormatException)
        {
            throw new HpfDetException($"Checkpoint '{path}' is truncated or corrupt ({e.Message}). Use an earlier checkpoint from the same run folder.", e);
        }
    }

    /// <summary>Copies the "model." tensors into <paramref name="model"/>; every parameter and buffer must be present with its shape.</summary>
    public static void ApplyToModel(IReadOnlyDictionary<string, Tensor> tensors, nn.Module model, string source)
    {
        var state = model.state_dict();
        var missing = state.Keys.Where(k => !tensors.ContainsKey("model." + k)).ToList();
        var unexpected = tensors.Keys.Where(k => k.StartsWith("model.") && !state.ContainsKey(k[6..])).ToList();
        var wrongShape = state.Where(kv => tensors.TryGetValue("model." + kv.Key, out var t) && !t.shape.SequenceEqual(kv.Value.shape))
            .Select(kv => $"{kv.Key} (model [{string.Join(", ", kv.Value.shape)}], checkpoint [{string.Join(", ", tensors["model." + kv.Key].shape)}])").ToList();
        if (missing.Count + unexpected.Count + wrongShape.Count > 0)
            throw new HpfDetException($"Checkpoint '{source}' does not fit this model: " +
                (missing.Count > 0 ? $"missing {string.Join(", ", missing.Take(10))}{(missing.Count > 10 ? $" (+{missing.Count - 10})" : "")}; " : "") +
                (unexpected.Count > 0 ? $"unexpected {string.Join(", ", unexpected.Take(10))}; " : "") +
                (wrongShape.Count > 0 ? $"wrong shape {string.Join(", ", wrongShape.Take(10))}; " : "") +
                "build the model with the configuration saved in the checkpoint.");
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        foreach (var (name, target) in state)
            target.copy_(tensors["model." + name]);
    }

    /// <summary>The "optim." tensors by parameter name.</summary>
    public static Dictionary<string, Tensor> OptimizerState(IReadOnlyDictionary<string, Tensor> tensors) =>
        tensors.Where(kv => kv.Key.StartsWith("optim.")).ToDictionary(kv => kv.Key[6..], kv => kv.Value);
}
