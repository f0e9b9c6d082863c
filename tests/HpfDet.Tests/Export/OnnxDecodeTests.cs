using Google.Protobuf;
using HpfDet.Boxes;
using HpfDet.Export;
using Microsoft.ML.OnnxRuntime;
using Tensor = TorchSharp.torch.Tensor;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Tests.Export;

/// <summary>
/// The box coders' ONNX subgraphs alone, on ONNX Runtime, against the libtorch coders: mmdetection's and
/// torchvision's delta coder (deltas far beyond the clamp on both sides: mmdetection clamps dw, dh from
/// below too, torchvision from above only) and FCOS's size-normalised linear coder.
/// </summary>
public class OnnxDecodeTests
{
    /// <summary>Priors [N, 4] of assorted sizes and regression [B, N, 4] with values up to ±<paramref name="spread"/>, the extremes included.</summary>
    static (float[] Priors, float[] Regression) Inputs(int n, int batch, double spread)
    {
        var rng = new Random(7);
        var priors = new float[n * 4];
        for (int i = 0; i < n; i++)
        {
            float x = rng.Next(-50, 500), y = rng.Next(-50, 500), w = rng.Next(4, 800), h = rng.Next(4, 800);
            (priors[4 * i], priors[4 * i + 1], priors[4 * i + 2], priors[4 * i + 3]) = (x, y, x + w, y + h);
        }
        var regression = new float[batch * n * 4];
        for (int i = 0; i < regression.Length; i++) regression[i] = (float)((rng.NextDouble() * 2 - 1) * spread);
        regression[2] = (float)spread;        // dw, dh at both extremes
        regression[3] = (float)-spread;
        return (priors, regression);
    }

    /// <summary>Runs the subgraph <paramref name="decode"/> writes on ONNX Runtime.</summary>
    static float[] RunOnnx(OnnxBoxDecode decode, float[] priors, float[] regression, int n, int batch)
    {
        var g = new OnnxGraphBuilder(17);
        g.Input("priors", TensorProto.Types.DataType.Float, (long)n, 4L);
        g.Input("regression", TensorProto.Types.DataType.Float, "batch", (long)n, 4L);
        var ctx = new OnnxExportContext(g, OnnxModuleExporters.Default);
        g.Output("boxes", decode(ctx, "priors", "regression"), TensorProto.Types.DataType.Float, "batch", (long)n, 4L);
        var model = new ModelProto { IrVersion = 8, Graph = g.Graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        using var session = new InferenceSession(model.ToByteArray());
        using var results = session.Run([
            NamedOnnxValue.CreateFromTensor("priors", new DenseTensor<float>(priors, [n, 4])),
            NamedOnnxValue.CreateFromTensor("regression", new DenseTensor<float>(regression, [batch, n, 4]))]);
        return results.Single().AsTensor<float>().ToArray();
    }

    static float[] RunLibtorch(Func<Tensor, Tensor, Tensor> decode, float[] priors, float[] regression, int n, int batch)
    {
        using var scope = NewDisposeScope();
        return decode(tensor(priors, [n, 4]), tensor(regression, [batch, n, 4])).contiguous().data<float>().ToArray();
    }

    /// <summary>Largest |a − b| / max(1, largest |coordinate| of that box in b), as the parity tests measure boxes.</summary>
    static double MaxRelDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double m = 0;
        for (int i = 0; i < a.Length; i += 4)
        {
            double scale = 1.0;
            for (int k = 0; k < 4; k++) scale = Math.Max(scale, Math.Abs((double)b[i + k]));
            for (int k = 0; k < 4; k++)
            {
                Assert.True(float.IsFinite(a[i + k]) == float.IsFinite(b[i + k]), $"value {i + k}: {a[i + k]} against {b[i + k]}");
                if (float.IsFinite(b[i + k])) m = Math.Max(m, Math.Abs((double)a[i + k] - b[i + k]) / scale);
            }
        }
        return m;
    }

    public static TheoryData<string> DeltaCoders => ["mmdetection", "torchvision"];

    [Theory]
    [MemberData(nameof(DeltaCoders))]
    public void DeltaDecodingMatchesTheLibtorchCoderBeyondTheClamp(string kind)
    {
        const int n = 64, batch = 2;
        var coder = new DeltaXYWHBoxCoder(kind == "torchvision" ? DeltaXYWHBoxCoderOptions.Torchvision() : new DeltaXYWHBoxCoderOptions());
        // Delta 10 (torchvision weights 1) or 10 / 0.2 = 50 (mmdetection's stds): far past log(1000/16) ≈ 4.14 both ways.
        var (priors, regression) = Inputs(n, batch, kind == "torchvision" ? 10 : 50);
        var onnx = RunOnnx((ctx, p, r) => DenseDecodeExport.DeltaXYWH(ctx, coder, p, r), priors, regression, n, batch);
        var expected = RunLibtorch((p, r) => coder.Decode(p, r), priors, regression, n, batch);
        Assert.True(MaxRelDiff(onnx, expected) <= 1e-6, $"decoded boxes differ by {MaxRelDiff(onnx, expected)} relative to their size");
        // Box 0's dw is at +spread, dh at −spread: the width is clamped at exp(4.14) ≈ 62.5 prior widths in
        // both coders; the height below at 1/62.5 of the prior's by mmdetection's only, torchvision's keeps exp(−10).
        float priorH = priors[3] - priors[1];
        float height = expected[3] - expected[1];
        if (kind == "torchvision") Assert.True(height < priorH / 1000, $"height {height} of a {priorH} prior: no lower clamp expected");
        else Assert.Equal(priorH * 16 / 1000, height, priorH * 1e-4);
    }

    [Fact]
    public void LinearDecodingMatchesTheLibtorchCoder()
    {
        const int n = 64, batch = 2;
        var coder = new LinearBoxCoder(normalizeBySize: true);
        var (priors, regression) = Inputs(n, batch, 8);
        for (int i = 0; i < regression.Length; i++) regression[i] = Math.Abs(regression[i]);   // (l, t, r, b) after the head's ReLU
        var onnx = RunOnnx((ctx, p, r) => DenseDecodeExport.Linear(ctx, coder, p, r), priors, regression, n, batch);
        var expected = RunLibtorch((p, r) => coder.Decode(p, r), priors, regression, n, batch);
        Assert.True(MaxRelDiff(onnx, expected) <= 1e-6, $"decoded boxes differ by {MaxRelDiff(onnx, expected)} relative to their size");
        // The first box by hand: centre minus (l, t) and plus (r, b), each times the prior's width or height.
        float cx = (priors[0] + priors[2]) * 0.5f, w = priors[2] - priors[0];
        Assert.Equal(cx - regression[0] * w, expected[0], 1e-3);
        Assert.Equal(cx + regression[2] * w, expected[2], 1e-3);
    }
}
