using System.IO.Compression;
using HpfDet.Tests.Infrastructure;
using HpfDet.Training;
using HpfDet.Tests.Visualization;

namespace HpfDet.Tests.Training;

/// <summary>A finished run's log kept as log.jsonl.gz reads as the plain log did.</summary>
public class TrainingLogCompressionTests
{
    static string WriteLog(string dir)
    {
        var path = Path.Combine(dir, TrainingLogJson.FileName);
        File.WriteAllLines(path, VisualizationTestLogs.Iterations(40).Select(TrainingLogJson.ToLine)
            .Concat(VisualizationTestLogs.Evaluations(2).Select(TrainingLogJson.ToLine)));
        return path;
    }

    [Fact]
    public void Compress_replaces_the_log_by_a_gzip_file_with_the_same_bytes()
    {
        using var dir = TestPaths.NewTempDir("hpfdet-logz");
        var path = WriteLog(dir);
        var original = File.ReadAllBytes(path);
        var compressed = TrainingLogJson.Compress(path);

        Assert.Equal(path + ".gz", compressed);
        Assert.False(File.Exists(path));
        Assert.False(File.Exists(compressed + ".tmp"));
        var bytes = File.ReadAllBytes(compressed);
        Assert.Equal(new byte[] { 0x1f, 0x8b }, bytes[..2]); // the gzip magic number (RFC 1952)
        Assert.True(bytes.Length < original.Length / 3, $"{bytes.Length} bytes compressed from {original.Length}");
        using var gzip = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
        using var back = new MemoryStream();
        gzip.CopyTo(back);
        Assert.Equal(original, back.ToArray());
    }

    [Fact]
    public void Read_takes_the_compressed_log_by_either_name()
    {
        using var dir = TestPaths.NewTempDir("hpfdet-logz");
        var path = WriteLog(dir);
        var (plainIterations, plainEvaluations) = TrainingLogJson.Read(path);
        Assert.Equal(40, plainIterations.Count);
        TrainingLogJson.Compress(path);

        foreach (var name in new[] { path, path + ".gz" })
        {
            var (iterations, evaluations) = TrainingLogJson.Read(name);
            Assert.Equal(plainIterations.Select(TrainingLogJson.ToLine), iterations.Select(TrainingLogJson.ToLine));
            Assert.Equal(plainEvaluations.Select(TrainingLogJson.ToLine), evaluations.Select(TrainingLogJson.ToLine));
        }
        Assert.Equal(path + ".gz", TrainingLogJson.Find(dir));
    }

    [Fact]
    public void Find_prefers_the_plain_log_and_is_null_without_one()
    {
        using var dir = TestPaths.NewTempDir("hpfdet-logz");
        Assert.Null(TrainingLogJson.Find(dir));
        var path = WriteLog(dir);
        Assert.Equal(path, TrainingLogJson.Find(dir));
        File.WriteAllBytes(path + ".gz", [1, 2, 3]);
        Assert.Equal(path, TrainingLogJson.Find(dir));
    }

    [Fact]
    public void A_corrupt_compressed_log_is_named_in_the_error()
    {
        using var dir = TestPaths.NewTempDir("hpfdet-logz");
        var gz = Path.Combine(dir, TrainingLogJson.CompressedFileName);
        File.WriteAllText(gz, "this is not gzip");
        var e = Assert.Throws<HpfDetException>(() => TrainingLogJson.Read(gz));
        Assert.Contains(gz, e.Message);
    }
}
