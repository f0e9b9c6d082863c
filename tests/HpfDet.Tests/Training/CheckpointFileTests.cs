using System.Text;
using HpfDet.Tests.Infrastructure;
using HpfDet.Training;

namespace HpfDet.Tests.Training;

/// <summary>
/// Checkpoint files written byte by byte after the documented layout (magic "HPFDETCK", version 1, a JSON
/// header, a tensor count, then per tensor: name, dtype, dims, shape, byte count, bytes), corrupted on purpose.
/// </summary>
public class CheckpointFileTests : IDisposable
{
    readonly TempDir temp = TestPaths.NewTempDir("hpfdet-ckpt");

    public void Dispose() => temp.Dispose();

    const string Header = """{"epoch":1,"epoch_iteration":0,"iteration":7,"class_names":["cat","dog"]}""";

    /// <summary>One float32 tensor "model.w" with the given shape and byte count, followed by <paramref name="data"/>.</summary>
    string Write(long[] shape, int byteCount, byte[] data, string header = Header, int tensorCount = 1, int dtype = 6)
    {
        var path = Path.Combine(temp.NewSubdir(), "last.ckpt");
        using var w = new BinaryWriter(File.Create(path), Encoding.UTF8);
        w.Write(Encoding.ASCII.GetBytes("HPFDETCK"));
        w.Write(1);
        w.Write(header);
        w.Write(tensorCount);
        w.Write("model.w");
        w.Write(dtype);            // 6 = Float32 in libtorch's ScalarType
        w.Write(shape.Length);
        foreach (var d in shape) w.Write(d);
        w.Write(byteCount);
        w.Write(data);
        return path;
    }

    [Fact]
    public void AWellFormedHandWrittenFileLoads()
    {
        var path = Write([2, 2], 16, new byte[16]);
        var (info, tensors) = Checkpoint.Load(path);
        Assert.Equal(7, info.Iteration);
        Assert.Equal(["cat", "dog"], info.ClassNames);
        Assert.Equal([2L, 2L], tensors["model.w"].shape);
        foreach (var t in tensors.Values) t.Dispose();
    }

    public static TheoryData<long[], int, int, int, string> Corruptions => new()
    {
        { [-3, 2], 16, 16, 1, "dimension -3" },
        { [1L << 40, 1L << 40], 16, 16, 1, "dimension" },
        { [2, 2], -16, 16, 1, "declares -16 bytes" },
        { [2, 2], 1 << 30, 16, 1, "declares 1073741824 bytes" },
        { [2, 2], 12, 12, 1, "declares 12 bytes, expected 16" },
        { [2, 2], 16, 8, 1, "truncated" },
        { [2, 2], 16, 16, -1, "tensor count -1" },
        { [2, 2], 16, 16, 3, "truncated" },
    };

    [Theory]
    [MemberData(nameof(Corruptions))]
    public void ACorruptTensorSectionIsAClearErrorNamingTheFile(long[] shape, int byteCount, int dataBytes, int tensorCount, string expected)
    {
        var path = Write(shape, byteCount, new byte[dataBytes], tensorCount: tensorCount);
        var e = Assert.Throws<HpfDetException>(() => Checkpoint.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
        // The header alone still reads: resuming learns the run's position without reading any tensor.
        Assert.Equal(7, Checkpoint.ReadInfo(path).Iteration);
    }

    [Fact]
    public void AnUnknownTensorTypeIsAClearError()
    {
        var path = Write([2, 2], 16, new byte[16], dtype: 977);
        Assert.Contains("unknown type 977", Assert.Throws<HpfDetException>(() => Checkpoint.Load(path)).Message);
    }

    [Theory]
    [InlineData("""{"epoch":-1,"epoch_iteration":0,"iteration":7,"class_names":["a"]}""", "impossible position")]
    [InlineData("""{"epoch":1,"epoch_iteration":0,"iteration":7,"class_names":[]}""", "no class names")]
    [InlineData("""{"epoch":1,"epoch_iteration":0,"iteration":7}""", "no class names")]
    [InlineData("""{"epoch":"one"}""", "corrupt")]
    [InlineData("""[1, 2]""", "corrupt")]
    [InlineData("""{"epoch":1,""", "corrupt")]
    public void ACorruptHeaderIsAClearError(string header, string expected)
    {
        var path = Write([2, 2], 16, new byte[16], header);
        var e = Assert.Throws<HpfDetException>(() => Checkpoint.ReadInfo(path));
        Assert.Contains(expected, e.Message);
        Assert.Contains(path, e.Message);
        Assert.Throws<HpfDetException>(() => Checkpoint.Load(path));
    }

    [Fact]
    public void ATruncatedHeaderOrAFolderIsAClearError()
    {
        var full = File.ReadAllBytes(Write([2, 2], 16, new byte[16]));
        using var dir = TestPaths.NewTempDir("hpfdet-ckpt");
        var path = Path.Combine(dir, "cut.ckpt");
        File.WriteAllBytes(path, full[..20]);
        Assert.Contains("truncated or corrupt", Assert.Throws<HpfDetException>(() => Checkpoint.ReadInfo(path)).Message);
        using var folder = TestPaths.NewTempDir("hpfdet-ckpt");
        Assert.Contains("is a folder", Assert.Throws<HpfDetException>(() => Checkpoint.Load(folder)).Message);
    }

    [Fact]
    public void AFailedSaveLeavesNoPartialFileBehind()
    {
        // A folder holds the checkpoint's name: the temporary file is written in full, the final move fails.
        var path = Path.Combine(temp.NewSubdir(), "last.ckpt");
        Directory.CreateDirectory(path);
        using var model = TorchSharp.torch.nn.Linear(4, 4);
        Assert.ThrowsAny<IOException>(() => Checkpoint.Save(path, new CheckpointInfo(1, 0, 1, ["cat"]), model, null));
        Assert.False(File.Exists(path + ".tmp"), "the partial checkpoint is left beside the folder");
    }
}
