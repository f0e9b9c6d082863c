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
    public static void Save(string path, CheckpointInfo info, nn.Module model, SgdMomentum? optimizer) =>
        Save(path, info, model.state_dict(), optimizer);

    /// <summary>Writes the checkpoint atomically, with the model state given by name (a bf16 run's float32 masters).</summary>
    public static void Save(string path, CheckpointInfo info, IEnumerable<KeyValuePair<string, Tensor>> modelState, SgdMomentum? optimizer)
    {
        using var scope = torch.NewDisposeScope();
        var tensors = new List<(string Name, Tensor Tensor)>();
        foreach (var (name, t) in modelState) tensors.Add(("model." + name, t));
        if (optimizer is not null)
            foreach (var (name, t) in optimizer.State) tensors.Add(("optim." + name, t));
        using var rng = torch.get_rng_state();
        tensors.Add(("rng.torch", rng));

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var tmp = path + ".tmp";
        try
        {
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
        catch
        {
            // A failed write (a full disk, a folder in the way) leaves no partial file of tens of MB behind.
            try { File.Delete(tmp); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>Most tensors a checkpoint may list (a ResNet-101 detector with optimizer state has about 2,000).</summary>
    const int MaxTensors = 1_000_000;
    /// <summary>Most dimensions a stored tensor may have.</summary>
    const int MaxDims = 16;

    /// <summary>Reads the header only (position, class names, configuration): what resuming needs before the model exists.</summary>
    public static CheckpointInfo ReadInfo(string path) => Read(path, readTensors: false).Info;

    /// <summary>Reads the header and every tensor (on the CPU).</summary>
    public static (CheckpointInfo Info, Dictionary<string, Tensor> Tensors) Load(string path) => Read(path, readTensors: true);

    /// <summary>
    /// The trained detector a checkpoint holds, rebuilt from the configuration stored in it, in evaluation mode.
    /// The header is read first: a checkpoint whose configuration cannot build a model is refused before its
    /// tensors (tens to hundreds of MB) are read.
    /// </summary>
    public static (Models.DenseDetector Model, RunConfig Config, IReadOnlyList<string> ClassNames) LoadDetector(string path)
    {
        var config = RunConfig.FromJson(ReadInfo(path).Config);
        config.Validate(loadingPretrainedWeights: false);
        var (info, tensors) = Load(path);
        try
        {
            var model = config.BuildDetector(info.ClassNames.Count, loadPretrained: false);
            ApplyToModel(tensors, model, path);
            model.eval();
            return (model, config, info.ClassNames);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    static (CheckpointInfo Info, Dictionary<string, Tensor> Tensors) Read(string path, bool readTensors)
    {
        if (Directory.Exists(path))
            throw new HpfDetException($"Checkpoint '{path}' is a folder. Pass the .ckpt file in it (RUN/checkpoints/last.ckpt).");
        if (!File.Exists(path))
            throw new HpfDetException($"Checkpoint '{path}' not found. Pass a .ckpt file written by 'hpfdet train' (RUN/checkpoints/last.ckpt).");
        HpfDetException Corrupt(string what) =>
            new($"Checkpoint '{path}' is truncated or corrupt ({what}). Use an earlier checkpoint from the same run folder, or retrain.");
        var tensors = new Dictionary<string, Tensor>();
        try
        {
            using var fs = File.OpenRead(path);
            using var r = new BinaryReader(fs, Encoding.UTF8);
            long Remaining() => fs.Length - fs.Position;
            var magic = Encoding.ASCII.GetString(r.ReadBytes(Magic.Length));
            if (magic != Magic) throw new HpfDetException($"'{path}' is not an HpfDet checkpoint (bad header). Pass a .ckpt file written by 'hpfdet train'.");
            int version = r.ReadInt32();
            if (version != Version) throw new HpfDetException($"'{path}' is checkpoint version {version}; this build reads version {Version}.");
            var info = JsonSerializer.Deserialize<CheckpointInfo>(r.ReadString(), TrainingLogJson.Options) ?? throw Corrupt("empty header");
            if (info.Epoch < 0 || info.EpochIteration < 0 || info.Iteration < 0 || info.EpochIteration > info.Iteration)
                throw Corrupt($"impossible position: epoch {info.Epoch}, epoch iteration {info.EpochIteration}, iteration {info.Iteration}");
            if (info.ClassNames is null || info.ClassNames.Count == 0 || info.ClassNames.Any(n => n is null))
                throw Corrupt("no class names in the header");
            if (!readTensors) return (info, tensors);
            int count = r.ReadInt32();
            if (count < 0 || count > MaxTensors) throw Corrupt($"tensor count {count}");
            for (int i = 0; i < count; i++)
            {
                var name = r.ReadString();
                int typeCode = r.ReadInt32();
                var dtype = (ScalarType)typeCode;
                if (typeCode is < 0 or > sbyte.MaxValue || !Enum.IsDefined(dtype) || ElementSize(dtype) is not { } elementSize)
                    throw Corrupt($"tensor '{name}' has unknown type {typeCode}");
                int dims = r.ReadInt32();
                if (dims < 0 || dims > MaxDims) throw Corrupt($"tensor '{name}' has {dims} dimensions");
                var shape = new long[dims];
                long elements = 1;
                for (int d = 0; d < dims; d++)
                {
                    shape[d] = r.ReadInt64();
                    if (shape[d] < 0 || shape[d] > Remaining()) throw Corrupt($"tensor '{name}' has dimension {shape[d]}");
                    elements *= shape[d];
                    if (elements > Remaining()) throw Corrupt($"tensor '{name}' of shape [{string.Join(", ", shape.Take(d + 1))}, ...] is larger than the file");
                }
                int length = r.ReadInt32();
                if (length < 0 || length > Remaining() || length != elements * elementSize)
                    throw Corrupt($"tensor '{name}' of shape [{string.Join(", ", shape)}] declares {length} bytes, expected {elements * elementSize} with {Remaining()} left in the file");
                var data = r.ReadBytes(length);
                if (data.Length != length) throw new EndOfStreamException();
                var t = torch.empty(shape, dtype: dtype);
                t.bytes = data;
                tensors[name] = t.DetachFromDisposeScope();
            }
            return (info, tensors);
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or JsonException or FormatException or NotSupportedException or OverflowException or UnauthorizedAccessException or HpfDetException)
        {
            foreach (var t in tensors.Values) t.Dispose();
            if (e is HpfDetException) throw;
            if (e is UnauthorizedAccessException) throw new HpfDetException($"Checkpoint '{path}' cannot be read ({e.Message}). Check its permissions.", e);
            throw Corrupt(e.Message);
        }
    }

    /// <summary>Bytes per element of the types a checkpoint holds; null for types it never stores.</summary>
    static int? ElementSize(ScalarType type) => type switch
    {
        ScalarType.Bool or ScalarType.Byte or ScalarType.Int8 => 1,
        ScalarType.Int16 or ScalarType.Float16 or ScalarType.BFloat16 => 2,
        ScalarType.Int32 or ScalarType.Float32 => 4,
        ScalarType.Int64 or ScalarType.Float64 or ScalarType.ComplexFloat32 => 8,
        ScalarType.ComplexFloat64 => 16,
        _ => null,
    };

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
