using System.Diagnostics;
using System.Text;
using HpfDet.Data;
using HpfDet.Evaluation;
using HpfDet.Tests.Infrastructure;
using SkiaSharp;

namespace HpfDet.Tests.Data;

/// <summary>
/// Seeded malformed inputs of every data family (VOC XML, YOLO labels and data.yaml, COCO JSON,
/// images): each case must load or throw <see cref="HpfDetException"/> with a one-line message, in
/// bounded time. Failures are collected so one run lists them all with their seed and case.
/// </summary>
public class DataFuzzTests
{
    const int Seed = 1414;
    static readonly TimeSpan PerCase = TimeSpan.FromSeconds(5);
    // The decode limit under fuzzing: large enough for the seeds, small enough to keep memory bounded.
    static readonly DataReadOptions Options = new(ImageCheck: ImageCheck.FullDecode, MaxImagePixels: 4_000_000);

    readonly List<string> failures = [];
    readonly Dictionary<string, (int Cases, double Seconds)> byFamily = [];
    int cases, refused;

    void Expect(string family, int index, string input, Action read)
    {
        cases++;
        var watch = Stopwatch.StartNew();
        try { read(); }
        catch (HpfDetException e)
        {
            refused++;
            if (e.Message.Contains('\n') || e.Message.Contains('\r') || e.Message.Length == 0)
                failures.Add($"{family} #{index}: message is not one line: {e.Message}");
        }
        catch (Exception e)
        {
            failures.Add($"{family} #{index}: {e.GetType().Name}: {e.Message.Split('\n')[0]} (input: {Shorten(input)})");
        }
        if (watch.Elapsed > PerCase) failures.Add($"{family} #{index}: took {watch.Elapsed.TotalSeconds:0.0} s");
        var (n, t) = byFamily.GetValueOrDefault(family);
        byFamily[family] = (n + 1, t + watch.Elapsed.TotalSeconds);
    }

    static string Shorten(string s) => s.Length <= 160 ? s.Replace('\n', '|') : s[..160].Replace('\n', '|') + "…";

    static readonly string[] Junk =
    [
        "", " ", "-1", "0", "1e400", "-1e400", "NaN", "nan", "inf", "-0", "1.5", "99999999999999999999", "2147483648", "-2147483649",
        "abc", "\u00e9\u4e2d", "null", "true", "0x10", "1,5", "  7  ", "\t", "<", "&amp;", "]]>", "\"", "'", "{", "[", "%", "1e-400",
    ];

    static string Pick(Random r, IReadOnlyList<string> items) => items[r.Next(items.Count)];

    static string Mutate(Random r, string text)
    {
        var sb = new StringBuilder(text);
        var edits = 1 + r.Next(4);
        for (var e = 0; e < edits && sb.Length > 0; e++)
        {
            var at = r.Next(sb.Length);
            switch (r.Next(6))
            {
                case 0: sb.Remove(at, Math.Min(sb.Length - at, 1 + r.Next(12))); break;                      // delete
                case 1: sb.Insert(at, Pick(r, Junk)); break;                                                  // insert junk
                case 2: sb[at] = (char)r.Next(0, 128); break;                                                 // replace a char
                case 3: sb.Length = at; break;                                                                // truncate
                case 4: { var from = r.Next(sb.Length); sb.Insert(at, sb.ToString(from, Math.Min(20, sb.Length - from))); break; } // duplicate a piece
                default: sb.Insert(at, (char)r.Next(0x80, 0x3000)); break;                                    // non-ASCII
            }
        }
        return sb.ToString();
    }

    [Fact]
    public void Malformed_inputs_of_every_family_load_or_fail_with_a_one_line_data_error()
    {
        var total = Stopwatch.StartNew();
        var rng = new Random(Seed);
        using var dir = TestPaths.NewTempDir("fuzz");
        VocCases(rng, Path.Combine(dir, "voc"));
        YoloLabelCases(rng, Path.Combine(dir, "yolo"));
        YamlCases(rng, Path.Combine(dir, "yaml"));
        CocoCases(rng, Path.Combine(dir, "coco"));
        ImageCases(rng, Path.Combine(dir, "img"));
        total.Stop();
        Assert.True(cases >= 300, $"only {cases} cases");
        // Both outcomes must occur, or the generator is not reaching the readers' checks.
        Assert.InRange(refused, cases / 10, cases - cases / 10);
        Assert.True(failures.Count == 0, $"{failures.Count} of {cases} cases failed (seed {Seed}):\n" + string.Join("\n", failures.Take(30)));
        var timing = string.Join(", ", byFamily.Select(kv => $"{kv.Key} {kv.Value.Cases} cases {kv.Value.Seconds:0.0} s"));
        Assert.True(Environment.GetEnvironmentVariable("HPFDET_FUZZ_REPORT") is null, $"{cases} cases ({refused} refused with a data error, the rest loaded) in {total.Elapsed.TotalSeconds:0.0} s: {timing}");
        Assert.True(total.Elapsed < TimeSpan.FromSeconds(120), $"{cases} cases took {total.Elapsed.TotalSeconds:0.0} s: {timing}");
    }

    void VocCases(Random rng, string root)
    {
        DataTestFiles.Voc(root, new() { ["ok"] = DataTestFiles.VocXml("ok.png", 64, 48, ("cat", "1", "1", "30", "30")) }, new() { ["ok.png"] = (64, 48) });
        var valid = DataTestFiles.VocXml("ok.png", 64, 48, ("cat", "1", "1", "30", "30"), ("dog", "5", "6", "40", "47"));
        string[] structural =
        [
            "", "<annotation/>", "<notvoc><filename>ok.png</filename></notvoc>", "<annotation><filename>../../../etc/passwd</filename></annotation>",
            "<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY e \"ok.png\">]><annotation><filename>&e;</filename></annotation>",
            "<!DOCTYPE a [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><annotation><filename>&x;</filename></annotation>",
            "<!DOCTYPE a [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\"><!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\"><!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\"><!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\"><!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\">]><annotation><filename>&g;</filename></annotation>",
            "<annotation>" + string.Concat(Enumerable.Repeat("<a>", 5000)) + string.Concat(Enumerable.Repeat("</a>", 5000)) + "</annotation>",
            "\0\0\0\0", "<annotation><filename>ok.png</filename><size><width>-5</width><height>1e400</height></size></annotation>",
            "<annotation><filename>JPEGImages</filename></annotation>", "<annotation><filename>/</filename></annotation>",
        ];
        var ids = new List<string>();
        for (var i = 0; i < 90; i++)
        {
            string xml;
            if (i < structural.Length) xml = structural[i];
            else if (i % 3 == 0)
            {
                // Valid structure, junk values in random fields.
                xml = DataTestFiles.VocXml(rng.Next(4) == 0 ? Pick(rng, Junk) : "ok.png", rng.Next(-5, 200), rng.Next(-5, 200),
                    (Pick(rng, ["cat", "dog", "", "  ", "c\u00e4t", Pick(rng, Junk)]), Pick(rng, Junk), Pick(rng, Junk), Pick(rng, Junk), Pick(rng, Junk)));
            }
            else xml = Mutate(rng, valid);
            var id = $"v{i}";
            File.WriteAllText(Path.Combine(root, "Annotations", id + ".xml"), xml);
            ids.Add(id);
            File.WriteAllLines(Path.Combine(root, "ImageSets", "Main", "one.txt"), ["ok", id]);
            Expect("voc", i, xml, () => VocDatasetReader.Read(root, "one", Options));
            // Class discovery reads every annotation: keep the folder at "ok" plus the case under test.
            File.Move(Path.Combine(root, "Annotations", id + ".xml"), Path.Combine(root, id + ".xml"));
        }
        foreach (var id in ids) File.Move(Path.Combine(root, id + ".xml"), Path.Combine(root, "Annotations", id + ".xml"));
        // Split files themselves.
        for (var i = 0; i < 15; i++)
        {
            var lines = Enumerable.Range(0, 1 + rng.Next(5)).Select(_ => rng.Next(3) == 0 ? Pick(rng, Junk) : Pick(rng, ids)).ToList();
            if (i == 0) lines = ["../../etc/passwd"];
            if (i == 1) lines = ["ok", "ok", "ok"];
            File.WriteAllLines(Path.Combine(root, "ImageSets", "Main", "s.txt"), lines);
            Expect("voc-split", i, string.Join("|", lines), () => VocDatasetReader.Read(root, "s", Options));
        }
    }

    void YoloLabelCases(Random rng, string root)
    {
        Directory.CreateDirectory(root);
        File.WriteAllText(Path.Combine(root, "data.yaml"), "train: images\nnames: [a, b, c]\n");
        DataTestFiles.WritePng(Path.Combine(root, "images", "x.png"), 64, 48);
        Directory.CreateDirectory(Path.Combine(root, "labels"));
        var label = Path.Combine(root, "labels", "x.txt");
        string[] valid = ["0 0.5 0.5 0.2 0.2", "2 0.1 0.1 0.3 0.1 0.3 0.4 0.1 0.4", "1 0.9 0.9 0.5 0.5"];
        for (var i = 0; i < 80; i++)
        {
            var lines = new List<string>();
            for (var k = 0; k < 1 + rng.Next(6); k++)
            {
                var line = Pick(rng, valid);
                line = rng.Next(3) switch
                {
                    0 => line,
                    1 => string.Join(' ', line.Split(' ').Select(f => rng.Next(3) == 0 ? Pick(rng, Junk) : f)),
                    _ => Mutate(rng, line),
                };
                lines.Add(line);
            }
            var text = i switch
            {
                0 => "",
                1 => new string('9', 100_000),
                2 => "\0\x01\x02 binary \xff",
                3 => string.Join('\n', Enumerable.Repeat("0 0.5 0.5 0.1 0.1", 20_000)),
                _ => string.Join(rng.Next(4) == 0 ? "\r\n" : "\n", lines),
            };
            File.WriteAllText(label, text);
            Expect("yolo-label", i, text, () => YoloDatasetReader.Read(root, "train", Options));
        }
    }

    void YamlCases(Random rng, string root)
    {
        Directory.CreateDirectory(root);
        DataTestFiles.WritePng(Path.Combine(root, "train", "images", "x.png"), 32, 32);
        var yaml = Path.Combine(root, "data.yaml");
        const string valid = "path: .\ntrain: ../train/images\nval: train/images\nnc: 2\nnames: ['a', 'b']\n";
        string[] structural =
        [
            "", "---\n...", "- a\n- b", "names: [a]\ntrain: [[x]]", "names: {a: 1}\ntrain: train/images", "names: {0: a, 2: b}\ntrain: train/images",
            "? [a, b]\n: c\nnames: [a]\ntrain: train/images", "names: [a, a]\ntrain: train/images", "names: [a]\ntrain: /etc",
            "names: [a]\ntrain: ../../../../etc", "names: [a]\ntrain: train/images/x.png", "names: [a]\ntrain: []", "names: [a]\ntrain: {a: b}",
            "names: [a]\npath: /nonexistent/ds\ntrain: train/images", "names: [a]\npath: [1]\ntrain: train/images", "names: [a]\ntrain: train.txt",
            "a: &a [x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b]\nnames: *c\ntrain: train/images",
            "names: [a]\nnc: 99999999999999999999\ntrain: train/images", "names: [null]\ntrain: train/images", "names: \"\"\ntrain: train/images",
        ];
        for (var i = 0; i < 60; i++)
        {
            var text = i < structural.Length ? structural[i] : Mutate(rng, valid);
            File.WriteAllText(yaml, text);
            File.WriteAllText(Path.Combine(root, "train.txt"), rng.Next(2) == 0 ? "./train/images/x.png\n/etc/passwd\n../x.jpg\n" : Mutate(rng, "./train/images/x.png\n"));
            Expect("yolo-yaml", i, text, () =>
            {
                YoloDatasetReader.Read(root, "train", Options);
                YoloDatasetReader.Read(root, "val", Options);
            });
        }
    }

    static readonly string[] JsonValues = ["\"1\"", "null", "true", "false", "[]", "{}", "-1", "1.5", "1e308", "-1e308", "1e400", "99999999999999999999", "[1,2]", "\"\"", "\"../../x.png\"", "[1, 2, 3, null]"];

    void CocoCases(Random rng, string root)
    {
        Directory.CreateDirectory(root);
        DataTestFiles.WritePng(Path.Combine(root, "a.png"), 64, 48);
        var path = Path.Combine(root, "gt.json");
        string[] fields = ["id", "file_name", "width", "height", "image_id", "category_id", "bbox", "area", "iscrowd", "name", "images", "annotations", "categories"];
        string Valid(Func<string, string, string> value) => $$"""
            {"images": [{"id": {{value("id", "1")}}, "file_name": {{value("file_name", "\"a.png\"")}}, "width": {{value("width", "64")}}, "height": {{value("height", "48")}}}],
             "annotations": [{"id": 1, "image_id": {{value("image_id", "1")}}, "category_id": {{value("category_id", "1")}}, "bbox": {{value("bbox", "[1, 2, 10, 20]")}}, "area": {{value("area", "200")}}, "iscrowd": {{value("iscrowd", "0")}}}],
             "categories": [{"id": 1, "name": {{value("name", "\"cell\"")}}}]}
            """;
        var baseline = Valid((_, v) => v);
        for (var i = 0; i < 110; i++)
        {
            string json;
            if (i < 60)
            {
                // One to three fields given a value of the wrong type or range.
                var wrong = Enumerable.Range(0, 1 + rng.Next(3)).Select(_ => Pick(rng, fields)).ToHashSet();
                json = Valid((f, v) => wrong.Contains(f) ? Pick(rng, JsonValues) : v);
                foreach (var top in new[] { "images", "annotations", "categories" })
                    if (wrong.Contains(top)) json = json.Replace($"\"{top}\": [", $"\"{top}\": [{Pick(rng, JsonValues)}, ", StringComparison.Ordinal);
            }
            else if (i < 70) json = i switch
            {
                60 => "",
                61 => "[]",
                62 => new string('[', 10_000) + new string(']', 10_000),
                63 => "{\"images\": [], \"categories\": []}",
                64 => "{\"images\": [], \"annotations\": [], \"categories\": [{\"id\": 1}, {\"id\": 1}]}",
                65 => baseline.Replace("\"bbox\": [1, 2, 10, 20]", "\"bbox\": [NaN, 2, 10, 20]"),
                66 => baseline.Replace("[1, 2, 10, 20]", "[1, 2, 10, 20, 5]"),
                67 => "{\"images\": [{\"id\": 1, \"file_name\": \"a.png\"}, {\"id\": 1, \"file_name\": \"a.png\"}], \"annotations\": [], \"categories\": [{\"id\": 1}]}",
                68 => "\uFEFF" + baseline,
                _ => baseline + "garbage",
            };
            else json = Mutate(rng, baseline);
            File.WriteAllText(path, json);
            Expect("coco-dataset", i, json, () => CocoDatasetReader.Read(path, options: Options));
            Expect("coco-eval", i, json, () => CocoGroundTruth.Load(path));
        }
    }

    void ImageCases(Random rng, string root)
    {
        Directory.CreateDirectory(root);
        var png = ImageDecoder.EncodePng(HandMadeImages.Gradient(40, 30));
        var jpeg = ImageDecoder.Encode(HandMadeImages.Gradient(40, 30), SKEncodedImageFormat.Jpeg, 80);
        var webp = ImageDecoder.Encode(HandMadeImages.Gradient(40, 30), SKEncodedImageFormat.Webp, 80);
        uint[] sizes = [0, 1, 3, 65535, 100_000, 1u << 20, int.MaxValue, uint.MaxValue];
        var sample = Path.Combine(root, "x");
        for (var i = 0; i < 80; i++)
        {
            byte[] bytes;
            if (i < 16) bytes = HandMadeImages.PngDeclaring(sizes[i % sizes.Length], sizes[(i / 2 + 3) % sizes.Length]);
            else if (i < 24) bytes = HandMadeImages.JpegDeclaring((ushort)Math.Min(65535u, sizes[i % sizes.Length]), (ushort)rng.Next(0, 65536));
            else
            {
                bytes = (Pick(rng, ["png", "jpeg", "webp"]) switch { "png" => png, "jpeg" => jpeg, _ => webp }).ToArray();
                var flips = 1 + rng.Next(8);
                for (var k = 0; k < flips; k++) bytes[rng.Next(bytes.Length)] = (byte)rng.Next(256);
                if (rng.Next(3) == 0) bytes = bytes[..rng.Next(bytes.Length)];
            }
            File.WriteAllBytes(sample, bytes);
            var copy = bytes;
            Expect("image", i, $"{bytes.Length} bytes", () =>
            {
                ImageDecoder.ReadSize(sample);
                ImageDecoder.Decode(sample, Options.MaxImagePixels);
                ImageDecoder.Decode(copy, "x", Options.MaxImagePixels, (w, h) => (Math.Max(1, w / 3), Math.Max(1, h / 3)), out _);
            });
        }
    }
}
