using HpfDet.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Models;

public class DeformConv2dTests
{
    static DeformConv2d Float64Conv(int inChannels, int outChannels, int kernel, int padding, int dilation, bool bias, int seed)
    {
        using var generator = new torch.Generator((ulong)seed);
        using var initScope = InitGenerator.Use(generator);
        var conv = new DeformConv2d(inChannels, outChannels, kernel, padding, dilation, bias);
        conv.to(ScalarType.Float64);
        return conv;
    }

    static double MaxAbsDifference(Tensor a, Tensor b)
    {
        Assert.Equal(a.shape, b.shape);
        return a.sub(b).abs().max().item<double>();
    }

    [Fact]
    public void ParametersAreNamedAsConv2d()
    {
        using var scope = torch.NewDisposeScope();
        var withBias = new DeformConv2d(4, 8, 3, bias: true);
        Assert.Equal(["weight", "bias"], withBias.named_parameters().Select(p => p.name).ToArray());
        Assert.Equal(new long[] { 8, 4, 3, 3 }, withBias.Weight.shape);
        Assert.Equal(["weight"], new DeformConv2d(4, 8, 3).named_parameters().Select(p => p.name).ToArray());
    }

    [Fact]
    public void ZeroOffsetsGiveTheOrdinaryConvolution()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator(1);
        foreach (var (kernel, padding, dilation) in new[] { (3, 1, 1), (3, 0, 1), (3, 2, 2), (1, 0, 1) })
        {
            var conv = Float64Conv(3, 5, kernel, padding, dilation, bias: true, seed: kernel + padding + dilation);
            var input = torch.randn(2, 3, 7, 6, dtype: ScalarType.Float64, generator: generator);
            long outH = conv.OutputSize(7), outW = conv.OutputSize(6);
            var offsets = torch.zeros(2, 2 * kernel * kernel, outH, outW, dtype: ScalarType.Float64);
            var expected = nn.functional.conv2d(input, conv.Weight, conv.Bias, padding: [padding, padding], dilation: [dilation, dilation]);
            Assert.True(MaxAbsDifference(conv.call(input, offsets), expected) < 1e-10, $"kernel {kernel}, padding {padding}, dilation {dilation}");
        }
    }

    [Fact]
    public void AUniformIntegerOffsetShiftsTheInput()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator(2);
        var conv = Float64Conv(2, 3, 3, 1, 1, bias: false, seed: 1);
        var input = torch.randn(1, 2, 6, 7, dtype: ScalarType.Float64, generator: generator);
        // Every tap moved by (Δy, Δx) = (1, −2): output(i, j) = Σ_ab w[a, b]·X[i − 1 + a + 1, j − 1 + b − 2]
        // = Σ_ab w[a, b]·X[i + a, j + b − 3], X zero outside. That is an unpadded convolution of P with
        // P[u, v] = X[u, v − 3]: X with 3 zero columns on the left, 2 zero rows below (rows i + a up to 5 + 2),
        // and columns up to 6 + 2 = 8 (so 9 of them).
        var perTap = Enumerable.Range(0, 9).SelectMany(_ => new[] { 1.0, -2.0 }).ToArray();
        var offsets = torch.tensor(perTap, dtype: ScalarType.Float64).view(1, 18, 1, 1).expand(1, 18, 6, 7).contiguous();
        var shifted = nn.functional.pad(input, [3, 0, 0, 2]).narrow(3, 0, 9);
        var expected = nn.functional.conv2d(shifted, conv.Weight);
        Assert.True(MaxAbsDifference(conv.call(input, offsets), expected) < 1e-10);
    }

    [Fact]
    public void PerTapIntegerOffsetsThatDoubleTheTapSpacingGiveADilatedConvolution()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator(3);
        var conv = Float64Conv(2, 3, 3, 1, 1, bias: true, seed: 2);
        var input = torch.randn(2, 2, 8, 5, dtype: ScalarType.Float64, generator: generator);
        // Tap (a, b) at base (i − 1 + a, j − 1 + b) moved by (a − 1, b − 1) samples (i + 2(a − 1), j + 2(b − 1)):
        // a 3×3 convolution with dilation 2 and padding 2.
        var perTap = new List<double>();
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++) { perTap.Add(a - 1); perTap.Add(b - 1); }
        var offsets = torch.tensor(perTap.ToArray(), dtype: ScalarType.Float64).view(1, 18, 1, 1).expand(2, 18, 8, 5).contiguous();
        var expected = nn.functional.conv2d(input, conv.Weight, conv.Bias, padding: [2, 2], dilation: [2, 2]);
        Assert.True(MaxAbsDifference(conv.call(input, offsets), expected) < 1e-10);
    }

    [Fact]
    public void BilinearTapsByHand()
    {
        using var scope = torch.NewDisposeScope();
        // X = [[1, 2, 3], [4, 5, 6], [7, 8, 9]].
        var input = torch.arange(1, 10, dtype: ScalarType.Float64).reshape(1, 1, 3, 3);

        // 1×1 kernel of weight 2: output(i, j) = 2·X(i + Δy, j + Δx).
        var pointwise = Float64Conv(1, 1, 1, 0, 1, bias: false, seed: 3);
        using (torch.no_grad()) pointwise.Weight.fill_(2.0);
        var offsets = torch.zeros(1, 2, 3, 3, dtype: ScalarType.Float64);
        // (0, 0) + (0.25, 1.5) = (0.25, 1.5): 0.75·(0.5·2 + 0.5·3) + 0.25·(0.5·5 + 0.5·6) = 1.875 + 1.375 = 3.25 → 6.5.
        offsets[0, 0, 0, 0].fill_(0.25); offsets[0, 1, 0, 0].fill_(1.5);
        // (2, 2) + (0.5, 0.5) = (2.5, 2.5): only the corner (2, 2) = 9 is inside, weight 0.25 → 2.25 → 4.5.
        offsets[0, 0, 2, 2].fill_(0.5); offsets[0, 1, 2, 2].fill_(0.5);
        // (1, 1) + (−5, 0) = (−4, 1): outside → 0.
        offsets[0, 0, 1, 1].fill_(-5.0);
        // (1, 0) + (0, −0.25) = (1, −0.25): 0.75·X(1, 0) + 0.25·0 (the column −1 is outside) = 3 → 6.
        offsets[0, 1, 1, 0].fill_(-0.25);
        var output = pointwise.call(input, offsets);
        Assert.Equal(6.5, output[0, 0, 0, 0].item<double>(), 12);
        Assert.Equal(4.5, output[0, 0, 2, 2].item<double>(), 12);
        Assert.Equal(0.0, output[0, 0, 1, 1].item<double>(), 12);
        Assert.Equal(6.0, output[0, 0, 1, 0].item<double>(), 12);
        Assert.Equal(2.0 * 2, output[0, 0, 0, 1].item<double>(), 12);   // unmoved: 2·X(0, 1)

        // 3×3 kernel whose only weight is tap (0, 2): output(1, 1) reads base (0, 2) moved by tap 2's (Δy, Δx) =
        // offsets channels (4, 5) = (0.25, −0.5) → (0.25, 1.5) → 3.25: the (Δy, Δx) pairs are per tap, row-major.
        var star = Float64Conv(1, 1, 3, 1, 1, bias: false, seed: 4);
        using (torch.no_grad()) { star.Weight.zero_(); star.Weight[0, 0, 0, 2].fill_(1.0); }
        var tapOffsets = torch.zeros(1, 18, 3, 3, dtype: ScalarType.Float64);
        tapOffsets[0, 4, 1, 1].fill_(0.25); tapOffsets[0, 5, 1, 1].fill_(-0.5);
        Assert.Equal(3.25, star.call(input, tapOffsets)[0, 0, 1, 1].item<double>(), 12);
    }

    [Fact]
    public void GradientsMatchFiniteDifferences()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator(7);
        var conv = Float64Conv(2, 3, 3, 1, 1, bias: true, seed: 5);
        var input = torch.randn(1, 2, 4, 5, dtype: ScalarType.Float64, generator: generator);
        // Non-integer offsets, at least 0.2 from an integer, so that no finite-difference step crosses a kink.
        var whole = torch.randint(-2, 2, [1, 18, 4, 5], dtype: ScalarType.Float64, generator: generator);
        var fraction = torch.rand([1, 18, 4, 5], dtype: ScalarType.Float64, generator: generator).mul(0.6).add(0.2);
        var offsets = whole.add(fraction);
        var projection = torch.randn(1, 3, 4, 5, dtype: ScalarType.Float64, generator: generator);

        double Objective(Tensor x, Tensor o)
        {
            using var _ = torch.no_grad();
            return conv.call(x, o).mul(projection).sum().item<double>();
        }

        var inputLeaf = input.clone().requires_grad_(true);
        var offsetLeaf = offsets.clone().requires_grad_(true);
        conv.call(inputLeaf, offsetLeaf).mul(projection).sum().backward();
        var analytic = new (string Name, Tensor Value, Tensor Gradient)[]
        {
            ("input", input, inputLeaf.grad!), ("offsets", offsets, offsetLeaf.grad!),
            ("weight", conv.Weight, conv.Weight.grad!), ("bias", conv.Bias!, conv.Bias!.grad!),
        };
        const double h = 1e-6;
        foreach (var (name, value, gradient) in analytic)
        {
            var g = gradient.detach().reshape(-1).data<double>().ToArray();
            for (int i = 0; i < g.Length; i++)
            {
                double Evaluate(double delta)
                {
                    using var _ = torch.no_grad();
                    var flat = value.view(-1);
                    double original = flat[i].item<double>();
                    flat[i].fill_(original + delta);
                    double f = Objective(input, offsets);
                    flat[i].fill_(original);
                    return f;
                }
                double numeric = (Evaluate(h) - Evaluate(-h)) / (2 * h);
                Assert.True(Math.Abs(numeric - g[i]) <= 1e-6 * Math.Max(1, Math.Abs(numeric)), $"d/d{name}[{i}]: analytic {g[i]}, numeric {numeric}");
            }
        }
    }
}
