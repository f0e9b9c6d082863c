using System.Text;
using HpfDet.Cli;
using HpfDet.Data;
using HpfDet.Tests.Infrastructure;
using HpfDet.Training;

namespace HpfDet.Tests.Cli;

/// <summary>
/// Seeded fuzzing of the tool's configuration, command line and checkpoint input: malformed YAML
/// (structure, values, types, anchors and aliases, tags, syntax damage), random option values and
/// --set pairs, and damaged checkpoints. Every case must end with exit code 2 (command line) or 3 (user
/// error) and one line on stderr, never exit 1 (an internal error), a stack trace or a hang. No case can
/// start training: each one carries a mistake or a dataset path that does not exist.
/// </summary>
[Collection(ConsoleCollection.Name)]
public class ConfigFuzzTests
{
    const string MissingData = "/nonexistent/hpfdet-fuzz-dataset";
    static readonly TimeSpan CaseLimit = TimeSpan.FromSeconds(60);

    static readonly string[] Sections = ["data", "model", "loss", "train", "test"];

    static readonly string[] BadScalars =
    [
        "NaN", ".nan", ".NaN", ".inf", "-.inf", "Infinity", "-1", "0", "-0", "1e309", "-1e309", "1e-400", "99999999999999999999",
        "2147483648", "-2147483649", "abc", "", "~", "null", "0x10", "1_000", "true", "no", "'5'", "\"\"", "\"1\"", "1.5", "-7.25",
        "1e6", "100000", "-99", "five", "é", "\u00a0", "[", "]", "{", "}", ",", "&a 5", "*zz", "!!binary aGVsbG8=", "!!python/object:os.system ls",
        "!custom 3", "|\n    text", ">\n    folded", "'unterminated", "\"unterminated", "@at", "`tick", "%percent", "# comment",
        "- 1", "a: b", "? q", "1:2", "[1, [2]]", "{a: 1}", "[]", "{}", "[1, 2, 3]", "[-5]", "[32, 1e9]", "[8, 11, 3]",
    ];

    /// <summary>Characters that mean something in YAML.</summary>
    const string Damage = ":-[]{}\t\"'&*!%@`|>#,?\n ";

    static string RandomKey(Random r) => r.Next(6) switch
    {
        0 => RunConfig.Keys[r.Next(RunConfig.Keys.Count)].Split('.')[1],
        1 => RunConfig.Keys[r.Next(RunConfig.Keys.Count)].Split('.')[1].ToUpperInvariant(),
        2 => RunConfig.Keys[r.Next(RunConfig.Keys.Count)].Split('.')[1] + "x",
        3 => new string('k', r.Next(1, 300)),
        4 => "\"quoted key\"",
        _ => RunConfig.Keys[r.Next(RunConfig.Keys.Count)].Split('.')[1],
    };

    /// <summary>A configuration with at least one value out of its range, wrong in type, or wrong in structure.</summary>
    static string RandomYaml(Random r)
    {
        var sb = new StringBuilder();
        switch (r.Next(7))
        {
            case 0:   // plausible file, random values
            case 1:
                foreach (var section in Sections.OrderBy(_ => r.Next()).Take(r.Next(1, 6)))
                {
                    sb.Append(section).Append(":\n");
                    foreach (var key in RunConfig.Keys.Where(k => k.StartsWith(section + ".", StringComparison.Ordinal)).OrderBy(_ => r.Next()).Take(r.Next(1, 5)))
                        sb.Append("  ").Append(key[(section.Length + 1)..]).Append(": ").Append(BadScalars[r.Next(BadScalars.Length)]).Append('\n');
                }
                break;
            case 2:   // random trees of mappings, lists and scalars
                AppendNode(sb, r, depth: 0, indent: 0, topLevel: true);
                break;
            case 3:   // anchors and aliases, including a nested alias bomb
                int levels = r.Next(2, 10);
                sb.Append("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
                for (int i = 1; i < levels; i++) sb.Append($"a{i}: &a{i} [{string.Join(",", Enumerable.Repeat($"*a{i - 1}", 9))}]\n");
                sb.Append(r.Next(2) == 0 ? $"train: *a{levels - 1}\n" : $"train:\n  multi_scale: *a{levels - 1}\n");
                break;
            case 4:   // syntax damage to a valid file
                var text = new StringBuilder("data:\n  format: synthetic\nmodel:\n  head_groups: 8\n  head_channels: 32\ntrain:\n  lr: 0.01\n  multi_scale: [320, 384]\ntest:\n  nms_iou: 0.6\n");
                for (int n = r.Next(1, 6); n > 0; n--)
                {
                    int at = r.Next(text.Length);
                    if (r.Next(2) == 0) text.Remove(at, 1);
                    else text.Insert(at, Damage[r.Next(Damage.Length)]);
                }
                sb.Append(text);
                break;
            case 5:   // sections of the wrong shape
                sb.Append(Sections[r.Next(Sections.Length)]).Append(r.Next(3) switch { 0 => ": [1, 2]\n", 1 => ": 5\n", _ => ":\n  - a\n  - b\n" });
                break;
            default:  // odd documents
                sb.Append(r.Next(6) switch
                {
                    0 => "--- \ntrain:\n  lr: 0.1\n---\ntrain:\n  lr: [\n",
                    1 => "\ufefftrain:\n  lr: -1\n",
                    2 => "train:\n\tlr: 0.1\n",
                    3 => "%YAML 1.1\n---\n!!map {train: !!map {lr: !!str x}}\n",
                    4 => "[train, model]\n",
                    _ => "? - a\n  - b\n: c\n",
                });
                break;
        }
        return sb.ToString();
    }

    static void AppendNode(StringBuilder sb, Random r, int depth, int indent, bool topLevel = false)
    {
        var pad = new string(' ', indent);
        int kind = depth >= 3 ? 2 : r.Next(topLevel ? 2 : 3);
        if (kind == 0)
        {
            for (int n = r.Next(1, 4); n > 0; n--)
            {
                var key = topLevel && r.Next(3) > 0 ? Sections[r.Next(Sections.Length)] : RandomKey(r);
                if (r.Next(8) == 0) sb.Append(pad).Append("? [").Append(key).Append("]\n").Append(pad).Append(':');
                else sb.Append(pad).Append(key).Append(':');
                if (r.Next(3) == 0) sb.Append(' ').Append(BadScalars[r.Next(BadScalars.Length)]).Append('\n');
                else
                {
                    sb.Append('\n');
                    AppendNode(sb, r, depth + 1, indent + 2);
                }
            }
        }
        else if (kind == 1)
        {
            for (int n = r.Next(1, 4); n > 0; n--)
            {
                sb.Append(pad).Append("- ");
                if (r.Next(2) == 0) sb.Append(BadScalars[r.Next(BadScalars.Length)]).Append('\n');
                else
                {
                    sb.Append('\n');
                    AppendNode(sb, r, depth + 1, indent + 2);
                }
            }
        }
        else sb.Append(pad).Append(BadScalars[r.Next(BadScalars.Length)]).Append('\n');
    }

    /// <summary>Runs one case; a problem is returned as text (with the case), null when it behaved.</summary>
    static string? Check(string name, string[] args, params int[] allowed)
    {
        var task = Task.Run(() => CliHarness.Run(args));
        if (!task.Wait(CaseLimit)) return $"{name}: no answer within {CaseLimit.TotalSeconds} s for {Show(args)}";
        var (code, _, err) = task.Result;
        var lines = CliHarness.Lines(err);
        if (!allowed.Contains(code)) return $"{name}: exit {code} for {Show(args)}: {err}";
        if (code == 0) return null;
        if (lines.Length != 1 || !lines[0].StartsWith("error: ", StringComparison.Ordinal))
            return $"{name}: expected one 'error:' line, got {lines.Length} for {Show(args)}: {err}";
        if (err.Contains("   at ", StringComparison.Ordinal) || err.Length > 4000)
            return $"{name}: stack trace or oversized message for {Show(args)}: {err[..Math.Min(err.Length, 500)]}";
        return null;
    }

    static string Show(string[] args) => string.Join(" ", args.Select(a => a.Length > 80 ? a[..80] + "…" : a)).ReplaceLineEndings("⏎");

    static void AssertNoProblems(List<string> problems, int cases) =>
        Assert.True(problems.Count == 0, $"{problems.Count} of {cases} cases misbehaved:\n" + string.Join("\n", problems.Take(20)));

    [Fact]
    public void MalformedConfigurationFilesAreUserErrors()
    {
        using var dir = TestPaths.NewTempDir("hpfdet-fuzz");
        var problems = new List<string>();
        const int cases = 250;
        for (int seed = 0; seed < cases; seed++)
        {
            var r = new Random(seed);
            var yaml = Path.Combine(dir, $"case{seed}.yaml");
            File.WriteAllText(yaml, RandomYaml(r));
            // The dataset path comes last, so even a configuration that happens to be valid stops before training.
            string[] args = r.Next(4) == 0
                ? ["compare", "--config", yaml, "--out", Path.Combine(dir, $"cmp{seed}"), "--data", MissingData, "--format", "voc"]
                : ["train", "--config", yaml, "--data", MissingData, "--format", "voc", "--out", Path.Combine(dir, $"run{seed}")];
            if (Check($"yaml seed {seed} ({File.ReadAllText(yaml).ReplaceLineEndings("⏎")})", args, ExitCodes.UsageError, ExitCodes.UserError) is { } p) problems.Add(p);
        }
        AssertNoProblems(problems, cases);
    }

    [Fact]
    public void EveryKeyWithEveryOddValueIsAcceptedOrRefusedClearly()
    {
        // Every key × every odd value through --set's path: only HpfDetException may come out of Set and
        // Validate (an InvalidCast, Overflow or NullReference would be an exit 1).
        var problems = new List<string>();
        foreach (var key in RunConfig.Keys)
            foreach (var value in BadScalars.Concat(["null", "[]", "[1,2]", "[[1]]"]))
            {
                var config = new RunConfig();
                try
                {
                    config.Set(key, value, $"--set {key}={value}");
                    config.Validate();
                }
                catch (HpfDetException e) when (!e.Message.Contains('\n'))
                {
                }
                catch (Exception e)
                {
                    problems.Add($"{key}={value}: {e.GetType().Name}: {e.Message}");
                }
            }
        AssertNoProblems(problems, RunConfig.Keys.Count * (BadScalars.Length + 4));
    }

    static readonly string[] OptionValues = ["-1", "0", "1", "abc", "", "NaN", "Infinity", "-Infinity", "1e309", "1e6", "99999999999", "3.5", "--", "-", "=", "synthetic", "atss-r50", "hpf", "x=y"];

    /// <summary>key=value pairs for --set: unknown keys, no '=', bad values for real keys.</summary>
    static string RandomSet(Random r) => r.Next(8) switch
    {
        0 => "novalue",
        1 => "=5",
        2 => $"{RandomKey(r)}={BadScalars[r.Next(BadScalars.Length)]}",
        3 => $"a.b.c=1",
        4 => $"{RunConfig.Keys[r.Next(RunConfig.Keys.Count)]}=",
        _ => $"{RunConfig.Keys[r.Next(RunConfig.Keys.Count)]}={BadScalars[r.Next(BadScalars.Length)]}",
    };

    [Fact]
    public void MalformedCommandLinesAreUsageOrUserErrors()
    {
        using var dir = TestPaths.NewTempDir("hpfdet-fuzz");
        var notYaml = Path.Combine(dir, "binary.yaml");
        File.WriteAllBytes(notYaml, [0, 1, 2, 0xff, 0xfe, (byte)'\n', 0x80]);
        var problems = new List<string>();
        const int cases = 250;
        string[] runOptions = ["--epochs", "--batch", "--lr", "--scale", "--model", "--loss", "--format", "--set", "--set", "--set", "--config", "--unknown", "--data"];
        for (int seed = 0; seed < cases; seed++)
        {
            var r = new Random(1000 + seed);
            var command = new[] { "train", "train", "train", "compare", "demo", "detect", "eval", "info", "bogus" }[r.Next(9)];
            var args = new List<string> { command };
            for (int n = r.Next(0, 6); n > 0; n--)
            {
                var option = runOptions[r.Next(runOptions.Length)];
                args.Add(option);
                if (r.Next(10) == 0) continue;   // missing value
                args.Add(option switch
                {
                    "--set" => RandomSet(r),
                    "--config" => new[] { dir, notYaml, Path.Combine(dir, "missing.yaml"), "" }[r.Next(4)],
                    _ => OptionValues[r.Next(OptionValues.Length)],
                });
            }
            switch (command)
            {
                case "train":
                case "compare":
                    if (r.Next(5) == 0) args.AddRange(["--resume", new[] { dir, notYaml, Path.Combine(dir, "none") }[r.Next(3)]]);
                    args.AddRange(["--out", Path.Combine(dir, $"out{seed}"), "--set", "data.format=voc", "--set", $"data.path={MissingData}"]);
                    break;
                case "demo":
                    // A key the demo cannot accept always comes last: the demo must stop before generating or training.
                    args.AddRange(["--out", Path.Combine(dir, $"demo{seed}"), "--set", RandomSet(r), "--set", "train.epochs=0"]);
                    break;
                case "detect":
                    args.AddRange(["--weights", new[] { dir, notYaml, Path.Combine(dir, "none.ckpt") }[r.Next(3)], "--images", dir, "--out", Path.Combine(dir, $"det{seed}")]);
                    break;
                case "eval":
                    args.AddRange(r.Next(2) == 0 ? ["--gt", notYaml, "--results", Path.Combine(dir, "none.json")] : ["--weights", notYaml, "--data", "synthetic"]);
                    break;
                case "info":
                    args.AddRange(["--data", new[] { dir, notYaml, MissingData }[r.Next(3)], "--format", new[] { "voc", "coco", "yolo", "xml" }[r.Next(4)]]);
                    break;
            }
            if (Check($"command line seed {1000 + seed}", [.. args], ExitCodes.UsageError, ExitCodes.UserError) is { } p) problems.Add(p);
        }
        AssertNoProblems(problems, cases);
    }

    [Fact]
    public void DamagedCheckpointsAreUserErrors()
    {
        using var dir = TestPaths.NewTempDir("hpfdet-fuzz");
        // Its run reads a dataset that does not exist: resuming it stops there at the latest.
        var full = File.ReadAllBytes(CliBadInputTests.UntrainedCheckpoint(Path.Combine(dir, "run"), ("data.format", "voc"), ("data.path", MissingData)));
        // The damage goes into the structure near the start; the first 64 KiB keep every case small to write
        // (the whole file, tens of MB, is cut short anyway).
        var good = full[..Math.Min(full.Length, 64 * 1024)];
        var images = Path.Combine(dir, "images");
        Directory.CreateDirectory(images);
        var pixels = new byte[32 * 32 * 4];
        new Random(5).NextBytes(pixels);
        File.WriteAllBytes(Path.Combine(images, "a.png"), ImageDecoder.EncodePng(new ImageBuffer(32, 32, pixels)));
        // Where the structure lies: magic (8), version (4), header string, tensor count, first tensor's fields.
        int headerLength;
        using (var reader = new BinaryReader(new MemoryStream(good), Encoding.UTF8))
        {
            reader.ReadBytes(12);
            reader.ReadString();
            headerLength = (int)reader.BaseStream.Position;
        }
        string[] headers = ["", "{", "[]", "null", "{\"epoch\":-5,\"epoch_iteration\":0,\"iteration\":1,\"class_names\":[\"a\"]}",
            "{\"epoch\":0,\"epoch_iteration\":0,\"iteration\":0,\"class_names\":[]}", "{\"epoch\":0,\"iteration\":1e999,\"class_names\":[\"a\"]}",
            "{\"epoch\":0,\"epoch_iteration\":0,\"iteration\":0,\"class_names\":[\"a\",\"b\"],\"config\":{\"model\":{\"name\":\"atss-r999\"}}}",
            "{\"epoch\":0,\"epoch_iteration\":0,\"iteration\":0,\"class_names\":[\"a\",\"b\"],\"config\":{\"model\":{\"head_groups\":0}}}",
            "{\"epoch\":0,\"epoch_iteration\":0,\"iteration\":0,\"class_names\":[\"a\",\"b\"],\"config\":[1]}",
            "{\"epoch\":0,\"epoch_iteration\":0,\"iteration\":0,\"class_names\":[\"a\",\"b\"],\"config\":{\"data\":null,\"model\":{\"name\":null}}}",
            "{\"epoch\":0,\"epoch_iteration\":0,\"iteration\":0,\"class_names\":[\"a\",\"b\"],\"config\":{\"train\":{\"multi_scale\":null,\"lr\":\"x\"}}}",
            "{\"epoch\":0,\"epoch_iteration\":0,\"iteration\":0,\"class_names\":[\"a\",\"b\"],\"config\":{\"model\":{\"name\":null}}}"];
        var problems = new List<string>();
        const int cases = 120;
        for (int seed = 0; seed < cases; seed++)
        {
            var r = new Random(2000 + seed);
            byte[] bytes;
            switch (r.Next(4))
            {
                case 0:   // cut anywhere
                    bytes = good[..r.Next(good.Length)];
                    break;
                case 1:   // a structural field (count, name length, dtype, dims, a dimension, byte count) overwritten
                    bytes = (byte[])good.Clone();
                    int at = headerLength + r.Next(0, 48);
                    BitConverter.GetBytes(new[] { -1, int.MinValue, int.MaxValue, 1 << 20, 977, 64 }[r.Next(6)]).CopyTo(bytes, Math.Min(at, bytes.Length - 4));
                    break;
                case 2:   // another header
                    using (var ms = new MemoryStream())
                    {
                        using (var w = new BinaryWriter(ms, Encoding.UTF8, leaveOpen: true))
                        {
                            w.Write(good[..12]);
                            w.Write(headers[r.Next(headers.Length)]);
                            w.Write(good[headerLength..]);
                        }
                        bytes = ms.ToArray();
                    }
                    break;
                default:  // damage in the first bytes (magic, version, header length)
                    bytes = (byte[])good.Clone();
                    for (int n = r.Next(1, 4); n > 0; n--) bytes[r.Next(16)] ^= (byte)r.Next(1, 256);
                    break;
            }
            var path = Path.Combine(dir, $"case{seed}.ckpt");
            File.WriteAllBytes(path, bytes);
            string[] args = r.Next(3) switch
            {
                0 => ["detect", "--weights", path, "--images", images, "--out", Path.Combine(dir, $"det{seed}")],
                1 => ["eval", "--weights", path, "--data", MissingData, "--format", "voc"],
                _ => ["train", "--resume", ResumeFolder(dir, seed, bytes)],
            };
            // Resuming reads the header only and then looks for the dataset (missing): exit 3 either way.
            if (Check($"checkpoint seed {2000 + seed}", args, ExitCodes.UserError) is { } p) problems.Add(p);
        }
        AssertNoProblems(problems, cases);
    }

    static string ResumeFolder(string dir, int seed, byte[] checkpoint)
    {
        var run = Path.Combine(dir, $"resume{seed}");
        Directory.CreateDirectory(Path.Combine(run, "checkpoints"));
        File.WriteAllBytes(Path.Combine(run, "checkpoints", "last.ckpt"), checkpoint);
        return run;
    }
}
