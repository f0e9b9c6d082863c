using HpfDet.Data;
using HpfDet.Tests.Infrastructure;

namespace HpfDet.Tests.Data;

/// <summary>Symbolic links out of the dataset folder are refused; file content that is not a label line is never echoed.</summary>
public class DataPathSafetyTests
{
    internal const string Secret = "root:x:0:0:secret-line-7f3a:/root:/bin/bash";

    /// <summary>In the empty folder <paramref name="dir"/>: a YOLO dataset (yolo/) whose label a.txt links to a file in outside/.</summary>
    internal static (string Root, string Outside) YoloWithOutsideFile(string dir)
    {
        var outside = Path.Combine(dir, "outside");
        Directory.CreateDirectory(outside);
        File.WriteAllLines(Path.Combine(outside, "passwd"), [Secret, "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin"]);
        DataTestFiles.WritePng(Path.Combine(outside, "far.png"), 50, 50);
        var root = Path.Combine(dir, "yolo");
        Directory.CreateDirectory(root);
        File.WriteAllText(Path.Combine(root, "data.yaml"), "train: images\nnames: [a]\n");
        DataTestFiles.WritePng(Path.Combine(root, "images", "a.png"), 50, 50);
        DataTestFiles.WritePng(Path.Combine(root, "images", "b.png"), 50, 50);
        Directory.CreateDirectory(Path.Combine(root, "labels"));
        File.CreateSymbolicLink(Path.Combine(root, "labels", "a.txt"), Path.Combine(outside, "passwd"));
        File.WriteAllText(Path.Combine(root, "labels", "b.txt"), "0 0.5 0.5 0.2 0.2\n");
        return (root, outside);
    }

    [Fact]
    public void Label_linked_out_of_the_dataset_is_refused_and_its_content_never_shown()
    {
        using var dir = TestPaths.NewTempDir("yolo");
        var (root, _) = YoloWithOutsideFile(dir);
        var d = YoloDatasetReader.Read(root);
        Assert.Equal(["b.png"], d.Samples.Select(s => Path.GetFileName(s.ImagePath)));
        var issue = Assert.Single(d.Issues.Items);
        Assert.Equal(DataIssueKind.PathEscape, issue.Kind);
        Assert.Contains("a.txt", issue.Reason);
        Assert.DoesNotContain("secret-line", d.Issues.Summary());
        Assert.DoesNotContain("secret-line", DatasetStatistics.Compute(d).ToText());

        // Allowed explicitly: the file is read, its lines are not labels, and still not echoed.
        var allowed = YoloDatasetReader.Read(root, options: new DataReadOptions(AllowSymlinksOutside: true));
        Assert.Equal(2, allowed.Count);
        Assert.Equal(2, allowed.Issues.Items.Count(i => i.Kind == DataIssueKind.MalformedBox));
        Assert.DoesNotContain("secret-line", allowed.Issues.Summary());
        Assert.DoesNotContain("daemon", allowed.Issues.Summary());
    }

    [Fact]
    public void Images_and_annotations_linked_out_of_the_dataset_are_refused()
    {
        using var linked = TestPaths.NewTempDir("yolo");
        var (root, outside) = YoloWithOutsideFile(linked);
        File.CreateSymbolicLink(Path.Combine(root, "images", "c.png"), Path.Combine(outside, "far.png"));
        var d = YoloDatasetReader.Read(root);
        Assert.Equal(2, d.Issues.Items.Count(i => i.Kind == DataIssueKind.PathEscape)); // a.txt and c.png

        // A link that stays inside the dataset is fine.
        File.CreateSymbolicLink(Path.Combine(root, "images", "d.png"), Path.Combine(root, "images", "b.png"));
        Assert.Contains(YoloDatasetReader.Read(root).Samples, s => s.ImagePath.EndsWith("d.png", StringComparison.Ordinal));

        // VOC: an annotation and an image folder linked elsewhere.
        using var dir = TestPaths.NewTempDir();
        var voc = DataTestFiles.Voc(dir, new() { ["a"] = DataTestFiles.VocXml("a.png", 50, 50, ("cat", "1", "1", "9", "9")) },
            new() { ["a.png"] = (50, 50) });
        File.WriteAllText(Path.Combine(outside, "b.xml"), DataTestFiles.VocXml("a.png", 50, 50, ("cat", "1", "1", "9", "9")));
        File.CreateSymbolicLink(Path.Combine(voc, "Annotations", "b.xml"), Path.Combine(outside, "b.xml"));
        File.AppendAllLines(Path.Combine(voc, "ImageSets", "Main", "all.txt"), ["b"]);
        var v = VocDatasetReader.Read(voc, "all");
        Assert.Equal(1, v.Count);
        Assert.True(v.Issues.Count == 1, v.Issues.Summary());

        Directory.Move(Path.Combine(voc, "JPEGImages"), Path.Combine(outside, "JPEGImages"));
        Directory.CreateSymbolicLink(Path.Combine(voc, "JPEGImages"), Path.Combine(outside, "JPEGImages"));
        Assert.Equal(0, VocDatasetReader.Read(voc, "all").Count);
        Assert.Equal(2, VocDatasetReader.Read(voc, "all", new DataReadOptions(AllowSymlinksOutside: true)).Count); // a and the linked b
    }

    [Fact]
    public void Voc_split_file_linked_out_of_the_dataset_is_an_error()
    {
        using var outside = TestPaths.NewTempDir("outside");
        File.WriteAllLines(Path.Combine(outside, "list.txt"), ["a"]);
        using var dir = TestPaths.NewTempDir();
        var voc = DataTestFiles.Voc(dir, new() { ["a"] = DataTestFiles.VocXml("a.png", 50, 50, ("cat", "1", "1", "9", "9")) },
            new() { ["a.png"] = (50, 50) });
        File.CreateSymbolicLink(Path.Combine(voc, "ImageSets", "Main", "linked.txt"), Path.Combine(outside, "list.txt"));
        Assert.Contains("symbolic link", Assert.Throws<HpfDetException>(() => VocDatasetReader.Read(voc, "linked")).Message);
        Assert.Equal(1, VocDatasetReader.Read(voc, "linked", new DataReadOptions(AllowSymlinksOutside: true)).Count);
    }

    [Fact]
    public void Real_path_follows_relative_links_and_stops_on_loops()
    {
        using var dir = TestPaths.NewTempDir();
        Directory.CreateDirectory(Path.Combine(dir, "real", "sub"));
        Directory.CreateSymbolicLink(Path.Combine(dir, "link"), "real/sub");
        Assert.Equal(Path.Combine(dir, "real", "sub", "f.txt"), DatasetPaths.RealPath(Path.Combine(dir, "link", "f.txt")));
        Assert.Equal(Path.Combine(dir, "real", "x"), DatasetPaths.RealPath(Path.Combine(dir, "link", "..", "x"))); // .. after the link, as the kernel does
        File.CreateSymbolicLink(Path.Combine(dir, "loop1"), Path.Combine(dir, "loop2"));
        File.CreateSymbolicLink(Path.Combine(dir, "loop2"), Path.Combine(dir, "loop1"));
        Assert.Null(DatasetPaths.RealPath(Path.Combine(dir, "loop1")));
        Assert.True(DatasetPaths.LeavesRoot(dir, Path.Combine(dir, "loop1")));
    }
}
