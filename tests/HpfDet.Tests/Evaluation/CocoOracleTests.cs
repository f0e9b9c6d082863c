using System.Text.Json;
using HpfDet.Evaluation;
using HpfDet.Tests.Infrastructure;

namespace HpfDet.Tests.Evaluation;

/// <summary>Every case in oracle/coco/ (pycocotools numbers) must be reproduced to 1e-12.</summary>
public class CocoOracleTests
{
    const double Tol = 1e-12;

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var dir in Directory.GetDirectories(Path.Combine(TestPaths.OracleDir, "coco")).Order(StringComparer.Ordinal))
            data.Add(Path.GetFileName(dir));
        return data;
    }

    static string CaseDir(string name) => Path.Combine(TestPaths.OracleDir, "coco", name);

    [Fact]
    public void OracleFolderHasCases() => Assert.NotEmpty(Cases());

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesPycocotools(string name)
    {
        var dir = CaseDir(name);
        var result = CocoEvaluator.Evaluate(CocoGroundTruth.Load(Path.Combine(dir, "gt.json")), CocoDetections.Load(Path.Combine(dir, "dt.json")));
        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "expected.json")));
        var e = expected.RootElement;

        AssertClose(Doubles(e.GetProperty("stats")), result.Stats, "stats");

        var expectedCats = e.GetProperty("per_category").EnumerateArray().ToList();
        Assert.Equal(expectedCats.Count, result.PerCategory.Count);
        for (var k = 0; k < expectedCats.Count; k++)
        {
            var ec = expectedCats[k];
            Assert.Equal(ec.GetProperty("category_id").GetInt32(), result.PerCategory[k].CategoryId);
            Assert.Equal(ec.GetProperty("name").GetString(), result.PerCategory[k].Name);
            var want = CocoEvalResult.StatNames.Select(s => ec.GetProperty(s).GetDouble()).ToArray();
            AssertClose(want, result.PerCategory[k].Stats, $"per_category[{k}]");
        }

        var catIds = e.GetProperty("dims").GetProperty("K_catIds").EnumerateArray().Select(x => x.GetInt32()).ToArray();
        Assert.Equal(catIds, result.CategoryIds);
        var iouThrs = Doubles(e.GetProperty("dims").GetProperty("T_iouThrs"));
        Assert.Equal(iouThrs, result.IouThresholds); // bit-exact linspace

        var ap = e.GetProperty("ap_tkam");
        var rec = e.GetProperty("recall_tkam");
        int T = result.IouThresholds.Length, K = catIds.Length, A = 4, M = result.MaxDets.Length;
        Assert.Equal(T, ap.GetArrayLength());
        for (var t = 0; t < T; t++)
            for (var k = 0; k < K; k++)
                for (var a = 0; a < A; a++)
                    for (var m = 0; m < M; m++)
                    {
                        var wantAp = ap[t][k][a][m].GetDouble();
                        var gotAp = result.MeanPrecision(t, k, a, m);
                        Assert.True(Math.Abs(wantAp - gotAp) <= Tol, $"{name} ap_tkam[{t}][{k}][{a}][{m}]: expected {wantAp:R}, got {gotAp:R}");
                        var wantRc = rec[t][k][a][m].GetDouble();
                        var gotRc = result.Recall[t, k, a, m];
                        Assert.True(Math.Abs(wantRc - gotRc) <= Tol, $"{name} recall_tkam[{t}][{k}][{a}][{m}]: expected {wantRc:R}, got {gotRc:R}");
                    }

        var npig = e.GetProperty("num_non_ignored_gt_ka");
        for (var k = 0; k < K; k++)
            for (var a = 0; a < A; a++)
                Assert.Equal(npig[k][a].GetInt32(), result.NumNonIgnoredGt[k, a]);

        if (e.TryGetProperty("summary_text", out var summary))
        {
            var lines = summary.EnumerateArray().Select(x => x.GetString()!).ToArray();
            Assert.Equal(string.Join("\n", lines), EvaluationReport.FormatSummary(result));
        }
    }

    static double[] Doubles(JsonElement e) => e.EnumerateArray().Select(x => x.GetDouble()).ToArray();

    static void AssertClose(double[] expected, double[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= Tol, $"{what}[{i}]: expected {expected[i]:R}, got {actual[i]:R}");
    }
}
