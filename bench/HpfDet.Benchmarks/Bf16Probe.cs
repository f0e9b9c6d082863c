using HpfDet.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Benchmarks;

/// <summary>
/// Which layers' bfloat16 (and channels-last) backward libtorch gets right on this CPU: each op's input and
/// weight gradients in bf16 / fp32, contiguous and channels-last, against float64, relative to the largest
/// reference gradient. Run: dotnet run -c Release --project bench/HpfDet.Benchmarks -- bf16-probe
/// </summary>
public static class Bf16Probe
{
    public static void Run()
    {
        Predictors();
        Localise();
        TorchRuntime.EnsureCorrectConvolutions();
        var gen = new Generator(3);
        var cases = new (string Name, long[] Input, Func<Tensor, Tensor[], Tensor> Op, long[][] Weights)[]
        {
            ("conv3x3 64->64 s1", [2, 64, 48, 64], (x, w) => nn.functional.conv2d(x, w[0], padding: [1, 1]), [[64, 64, 3, 3]]),
            ("conv3x3 128->128 s1 (24x32)", [2, 128, 24, 32], (x, w) => nn.functional.conv2d(x, w[0], padding: [1, 1]), [[128, 128, 3, 3]]),
            ("conv3x3 64->128 s2", [2, 64, 48, 64], (x, w) => nn.functional.conv2d(x, w[0], strides: [2, 2], padding: [1, 1]), [[128, 64, 3, 3]]),
            ("conv1x1 128->256", [2, 128, 24, 32], (x, w) => nn.functional.conv2d(x, w[0]), [[256, 128, 1, 1]]),
            ("conv3x3 256->256 (6x8)", [2, 256, 6, 8], (x, w) => nn.functional.conv2d(x, w[0], padding: [1, 1]), [[256, 256, 3, 3]]),
            ("conv3x3 256->256 (3x4)", [2, 256, 3, 4], (x, w) => nn.functional.conv2d(x, w[0], padding: [1, 1]), [[256, 256, 3, 3]]),
            ("conv3x3 256->16 predictor", [2, 256, 48, 64], (x, w) => nn.functional.conv2d(x, w[0], padding: [1, 1]), [[16, 256, 3, 3]]),
            ("conv3x3 128->128 (48x64)", [2, 128, 48, 64], (x, w) => nn.functional.conv2d(x, w[0], padding: [1, 1]), [[128, 128, 3, 3]]),
            ("conv3x3 512->512 (12x16)", [2, 512, 12, 16], (x, w) => nn.functional.conv2d(x, w[0], padding: [1, 1]), [[512, 512, 3, 3]]),
            ("conv3x3 256->256 (24x32)", [2, 256, 24, 32], (x, w) => nn.functional.conv2d(x, w[0], padding: [1, 1]), [[256, 256, 3, 3]]),
            ("conv3x3 64->64 (96x128)", [2, 64, 96, 128], (x, w) => nn.functional.conv2d(x, w[0], padding: [1, 1]), [[64, 64, 3, 3]]),
            ("batch_norm eval 128", [2, 128, 48, 64], (x, w) => nn.functional.batch_norm(x, torch.zeros(128, dtype: x.dtype), torch.full(128, 2.0, dtype: x.dtype), w[0], w[1], training: false), [[128], [128]]),
            ("group_norm 32 groups", [2, 256, 24, 32], (x, w) => nn.functional.group_norm(x, 32, w[0], w[1]), [[256], [256]]),
            ("relu", [2, 64, 24, 32], (x, w) => nn.functional.relu(x), []),
            ("upsample nearest x2", [2, 64, 12, 16], (x, w) => nn.functional.interpolate(x, scale_factor: [2, 2], mode: InterpolationMode.Nearest), []),
            ("max_pool 3x3 s2", [2, 64, 48, 64], (x, w) => nn.functional.max_pool2d(x, 3, 2, 1), []),
        };
        foreach (var (name, shape, op, weights) in cases)
        {
            using var scope = NewDisposeScope();
            var x64 = torch.randn(shape, dtype: ScalarType.Float64, generator: gen);
            var w64 = weights.Select(s => torch.randn(s, dtype: ScalarType.Float64, generator: gen).mul(0.05)).ToArray();
            var up = torch.randn(op(x64, w64).shape, dtype: ScalarType.Float64, generator: gen);
            var reference = Grads(op, x64, w64, up, ScalarType.Float64, false);
            var row = new List<string>();
            foreach (var (dtype, cl) in new[] { (ScalarType.Float32, false), (ScalarType.Float32, true), (ScalarType.BFloat16, false), (ScalarType.BFloat16, true) })
            {
                var g = Grads(op, x64, w64, up, dtype, cl);
                double worst = 0;
                for (int i = 0; i < g.Length; i++)
                {
                    double d = (g[i].to(ScalarType.Float64) - reference[i]).abs().max().item<double>() / Math.Max(reference[i].abs().max().item<double>(), 1e-30);
                    worst = double.IsNaN(d) ? double.NaN : Math.Max(worst, d);
                }
                row.Add($"{(dtype == ScalarType.Float32 ? "fp32" : "bf16")}{(cl ? "-CL" : "")} {worst:E1}");
            }
            Console.WriteLine($"{name,-30} {string.Join("  ", row)}");
        }
    }

    /// <summary>Parameter gradients of a float32 contiguous detector against channels-last fp32 and bf16 copies, for the backbone alone, backbone + neck, and the whole network (random upstream gradients on the outputs).</summary>
    static void Localise()
    {
        var gen = new Generator(5);
        var images = torch.randn([2, 3, 384, 512], generator: gen);
        foreach (var (label, cl, bf16) in new[] { ("fp32-CL", true, false), ("bf16-contiguous", false, true), ("bf16-CL", true, true) })
            foreach (var depth in new[] { "backbone", "neck", "head" })
            {
                using var scope = NewDisposeScope();
                torch.manual_seed(0);
                var a = BenchmarkProblem.Detector("atss-r18");
                torch.manual_seed(0);
                var b = BenchmarkProblem.Detector("atss-r18");
                a.train(); b.train();
                if (bf16) b.to(ScalarType.BFloat16);
                if (cl) ChannelsLast.Convert(b);
                Tensor[] Outputs(DenseDetector m, Tensor x)
                {
                    var f = m.Backbone.call(x);
                    if (depth == "backbone") return f;
                    var n = m.Neck.call(f);
                    if (depth == "neck") return n;
                    var h = m.Head.call(n);
                    return h.ClassLogits.Concat(h.BoxRegression).ToArray();
                }
                var xb = bf16 ? images.to(ScalarType.BFloat16) : images;
                if (cl) xb = ChannelsLast.Of(xb);
                var oa = Outputs(a, images);
                var ob = Outputs(b, xb);
                var ups = oa.Select(o => torch.randn(o.shape, generator: gen)).ToArray();
                torch.stack(oa.Select((o, i) => (o * ups[i]).sum()).ToArray()).sum().backward();
                torch.stack(ob.Select((o, i) => (o.to(ScalarType.Float32) * ups[i]).sum()).ToArray()).sum().backward();
                var gb = b.named_parameters().ToDictionary(p => p.name, p => p.parameter);
                var worst = a.named_parameters().Where(p => p.parameter.grad is not null)
                    .Select(p => (p.name, rel: (p.parameter.grad! - gb[p.name].grad!.to(ScalarType.Float32)).abs().max().item<float>() / Math.Max(p.parameter.grad!.abs().max().item<float>(), 1e-30f)))
                    .OrderByDescending(t => float.IsNaN(t.rel) ? float.MaxValue : t.rel).Take(3);
                Console.WriteLine($"{label,-16} up to {depth,-8}: " + string.Join(", ", worst.Select(t => $"{t.name} {t.rel:E1}")));
            }
    }

    /// <summary>Predictor convolutions (few output channels) at every level's size, five repeats each: worst relative error of the input gradient.</summary>
    static void Predictors()
    {
        var gen = new Generator(7);
        foreach (var outC in new long[] { 1, 4, 16, 80 })
        {
            var row = new List<string>();
            foreach (var (h, w) in new[] { (48, 64), (24, 32), (12, 16), (6, 8), (3, 4) })
            {
                double worstBf = 0, worstFp = 0;
                for (int r = 0; r < 5; r++)
                {
                    using var scope = NewDisposeScope();
                    var x64 = torch.randn([2, 256, h, w], dtype: ScalarType.Float64, generator: gen);
                    var w64 = torch.randn([outC, 256, 3, 3], dtype: ScalarType.Float64, generator: gen).mul(0.05);
                    Func<Tensor, Tensor[], Tensor> op = (x, k) => nn.functional.conv2d(x, k[0], padding: [1, 1]);
                    var up = torch.randn([2, outC, h, w], dtype: ScalarType.Float64, generator: gen);
                    var reference = Grads(op, x64, [w64], up, ScalarType.Float64, false);
                    foreach (var bf in new[] { true, false })
                    {
                        var g = Grads(op, x64, [w64], up, bf ? ScalarType.BFloat16 : ScalarType.Float32, true);
                        double e = 0;
                        for (int i = 0; i < g.Length; i++)
                            e = Math.Max(e, (g[i].to(ScalarType.Float64) - reference[i]).abs().max().item<double>() / reference[i].abs().max().item<double>());
                        if (double.IsNaN(e)) e = double.PositiveInfinity;
                        if (bf) worstBf = Math.Max(worstBf, e); else worstFp = Math.Max(worstFp, e);
                    }
                }
                row.Add($"{h}x{w} bf16-CL {worstBf:E1} fp32-CL {worstFp:E1}");
            }
            Console.WriteLine($"256->{outC,-3} " + string.Join(" | ", row));
        }
    }

    static Tensor[] Grads(Func<Tensor, Tensor[], Tensor> op, Tensor x64, Tensor[] w64, Tensor up, ScalarType dtype, bool channelsLast)
    {
        var x = x64.to(dtype);
        if (channelsLast) x = ChannelsLast.Of(x);
        x = x.detach().requires_grad_(true);
        var w = w64.Select(t => (t.dim() == 4 && channelsLast ? ChannelsLast.Of(t.to(dtype)) : t.to(dtype)).detach().requires_grad_(true)).ToArray();
        var y = op(x, w);
        y.backward([up.to(dtype)]);
        return new[] { x.grad! }.Concat(w.Select(t => t.grad!)).ToArray();
    }
}
