namespace HpfDet.Tests.Infrastructure;

/// <summary>The tests' temporary folders are gone when a test disposes them, links out of them left alone.</summary>
public class TempDirTests
{
    [Fact]
    public void A_disposed_temp_dir_is_deleted_with_its_content_and_links_are_not_followed()
    {
        using var target = TestPaths.NewTempDir("tempdir-target");
        File.WriteAllText(Path.Combine(target, "kept.txt"), "kept");
        string path;
        using (var dir = TestPaths.NewTempDir("tempdir-test"))
        {
            path = dir.Path;
            Assert.StartsWith(TestPaths.TempRoot, path);
            var sub = dir.NewSubdir();
            Assert.NotEqual(sub, dir.NewSubdir());
            Assert.Equal(path, Path.GetDirectoryName(sub));
            File.WriteAllText(Path.Combine(sub, "a.txt"), "a");
            Directory.CreateSymbolicLink(Path.Combine(sub, "link"), target);
        }
        Assert.False(Directory.Exists(path));
        Assert.True(File.Exists(Path.Combine(target, "kept.txt")), "the folder a link pointed to was emptied");
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void A_folder_left_without_write_permission_is_deleted_too()
    {
        string path;
        using (var dir = TestPaths.NewTempDir("tempdir-test"))
        {
            path = dir.Path;
            var locked = Path.Combine(dir, "locked");
            Directory.CreateDirectory(Path.Combine(locked, "inner"));
            File.WriteAllText(Path.Combine(locked, "inner", "f.txt"), "x");
            File.SetUnixFileMode(Path.Combine(locked, "inner"), UnixFileMode.UserRead | UnixFileMode.UserExecute);
            File.SetUnixFileMode(locked, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        }
        Assert.False(Directory.Exists(path));
    }
}
