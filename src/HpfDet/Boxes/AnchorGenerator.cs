using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Boxes;

/// <summary>Options of <see cref="AnchorGenerator"/> (defaults are mmdetection v2's ATSS settings).</summary>
public sealed record AnchorGeneratorOptions
{
    /// <param name="Strides">Stride of each feature level in pixels; null means (8, 16, 32, 64, 128). Also the base size.</param>
    /// <param name="OctaveBaseScale">Anchor side = stride × OctaveBaseScale × 2^(i / ScalesPerOctave).</param>
    /// <param name="ScalesPerOctave">Number of scales per location (i = 0 .. ScalesPerOctave-1).</param>
    /// <param name="Ratios">Height/width ratios; null means (1.0).</param>
    /// <param name="CenterOffset">Anchor centre = (x + CenterOffset) × stride; 0 as in mmdetection v2 ATSS.</param>
    /// <param name="Sizes">Explicit anchor sizes in pixels per level (torchvision's <c>sizes</c>); when set they
    /// replace OctaveBaseScale and ScalesPerOctave, and every level needs the same number of sizes.</param>
    /// <param name="RoundBaseAnchors">Round the base anchors (relative to the centre) to whole pixels, computed in
    /// float32 with round-half-to-even, as torchvision's AnchorGenerator does.</param>
    public AnchorGeneratorOptions(
        int[]? Strides = null,
        double OctaveBaseScale = 8,
        int ScalesPerOctave = 1,
        double[]? Ratios = null,
        double CenterOffset = 0.0,
        double[][]? Sizes = null,
        bool RoundBaseAnchors = false)
    {
        this.Sizes = Sizes;
        this.RoundBaseAnchors = RoundBaseAnchors;
        this.Strides = Strides ?? [8, 16, 32, 64, 128];
        this.OctaveBaseScale = OctaveBaseScale;
        this.ScalesPerOctave = ScalesPerOctave;
        this.Ratios = Ratios ?? [1.0];
        this.CenterOffset = CenterOffset;
    }

    public int[] Strides { get; init; }
    public double OctaveBaseScale { get; init; }
    public int ScalesPerOctave { get; init; }
    public double[] Ratios { get; init; }
    public double CenterOffset { get; init; }
    public double[][]? Sizes { get; init; }
    public bool RoundBaseAnchors { get; init; }

    /// <summary>
    /// The same anchors with every side multiplied by <paramref name="factor"/> (OctaveBaseScale, or each of
    /// <see cref="Sizes"/>): anchors sized for 800-px inputs scaled to the input in use (model.anchor_scale).
    /// </summary>
    public AnchorGeneratorOptions Scaled(double factor)
    {
        if (!(factor > 0) || double.IsInfinity(factor))
            throw new HpfDetException($"Anchor scale must be a positive number, got {factor}.");
        return this with { OctaveBaseScale = OctaveBaseScale * factor, Sizes = Sizes?.Select(level => level.Select(s => s * factor).ToArray()).ToArray() };
    }

    /// <summary>
    /// torchvision RetinaNet's anchors: sizes (32, 64, 128, 256, 512) × int(size·2^(i/3)) for i = 0, 1, 2,
    /// ratios (0.5, 1, 2), rounded base anchors, no centre offset, strides 8–128. torchvision derives each
    /// stride as the padded image size // the feature size, which equals 8–128 whenever the padded size is a
    /// multiple of 128 (as in the reference cases).
    /// </summary>
    public static AnchorGeneratorOptions TorchvisionRetinaNet() => new(
        Ratios: [0.5, 1.0, 2.0],
        Sizes: [.. new[] { 32, 64, 128, 256, 512 }.Select(x => new double[] { x, (int)(x * Math.Pow(2, 1.0 / 3)), (int)(x * Math.Pow(2, 2.0 / 3)) })],
        RoundBaseAnchors: true);
}

/// <summary>
/// Dense anchors over multi-level feature maps (mmdetection's AnchorGenerator with octave scales,
/// scale-major order). At level l with stride s, location (x, y) gets one anchor per (ratio, scale) pair,
/// ratio outer and scale inner: centre c = ((x + offset) s, (y + offset) s), width s·scale/√ratio,
/// height s·scale·√ratio, box c ± (w/2, h/2). With explicit <see cref="AnchorGeneratorOptions.Sizes"/>
/// (torchvision's AnchorGenerator) the size of each level replaces s·scale, and base anchors may be rounded.
/// </summary>
public sealed class AnchorGenerator
{
    private readonly double[][] _baseAnchors; // per level [A * 4] in pixels, relative to the centre (0, 0)

    public AnchorGenerator(AnchorGeneratorOptions? options = null)
    {
        Options = options ?? new AnchorGeneratorOptions();
        if (Options.Strides.Length == 0 || Options.Strides.Any(s => s <= 0))
        {
            throw new HpfDetException("AnchorGeneratorOptions.Strides: give at least one stride, each > 0 (e.g. 8, 16, 32, 64, 128).");
        }
        if (Options.Ratios.Length == 0 || Options.Ratios.Any(r => !(r > 0)))
        {
            throw new HpfDetException("AnchorGeneratorOptions.Ratios: give at least one ratio, each > 0 (e.g. 1.0).");
        }
        if (Options.ScalesPerOctave < 1 || !(Options.OctaveBaseScale > 0))
        {
            throw new HpfDetException("AnchorGeneratorOptions: ScalesPerOctave must be >= 1 and OctaveBaseScale > 0.");
        }
        if (Options.Sizes is { } sizes)
        {
            if (sizes.Length != Options.Strides.Length || sizes.Any(l => l.Length == 0 || l.Length != sizes[0].Length || l.Any(v => !(v > 0))))
                throw new HpfDetException($"AnchorGeneratorOptions.Sizes: give one list of sizes (each > 0, the same count) per stride; got {sizes.Length} lists for {Options.Strides.Length} strides.");
            _baseAnchors = sizes.Select(BaseAnchors).ToArray();
        }
        else
        {
            var octave = BaseAnchors(Enumerable.Range(0, Options.ScalesPerOctave).Select(i => Options.OctaveBaseScale * Math.Pow(2.0, (double)i / Options.ScalesPerOctave)).ToArray());
            _baseAnchors = Options.Strides.Select(stride => octave.Select(v => v * stride).ToArray()).ToArray();
        }
    }

    /// <summary>[A·4] anchors around (0, 0), ratio outer, scale inner.</summary>
    private double[] BaseAnchors(double[] scales)
    {
        var list = new List<double>();
        foreach (var ratio in Options.Ratios)
        {
            if (Options.RoundBaseAnchors)
            {
                // torchvision: float32 throughout, then round (half to even).
                var hRatio32 = MathF.Sqrt((float)ratio);
                var wRatio32 = 1f / hRatio32;
                foreach (var scale in scales)
                {
                    float w = wRatio32 * (float)scale, h = hRatio32 * (float)scale;
                    list.AddRange(new[] { -w / 2f, -h / 2f, w / 2f, h / 2f }.Select(v => (double)MathF.Round(v, MidpointRounding.ToEven)));
                }
                continue;
            }
            var hRatio = Math.Sqrt(ratio);
            var wRatio = 1.0 / hRatio;
            foreach (var scale in scales)
            {
                var w = wRatio * scale;
                var h = hRatio * scale;
                list.AddRange([-0.5 * w, -0.5 * h, 0.5 * w, 0.5 * h]);
            }
        }
        return list.ToArray();
    }

    public AnchorGeneratorOptions Options { get; }

    /// <summary>Anchors per location (ratios × scales per octave).</summary>
    public int NumAnchorsPerLocation => Options.Ratios.Length * (Options.Sizes?[0].Length ?? Options.ScalesPerOctave);

    /// <summary>Number of feature levels (= number of strides).</summary>
    public int NumLevels => Options.Strides.Length;

    /// <summary>
    /// Anchors of every level. featureSizes[l] = (H_l, W_l) → per level [H_l·W_l·A, 4] float32 on
    /// <paramref name="device"/>, ordered y outer, x inner, then the A anchors of the location.
    /// </summary>
    public IReadOnlyList<Tensor> GridAnchors(IReadOnlyList<(int H, int W)> featureSizes, Device device)
    {
        CheckLevels(featureSizes.Count);
        var result = new List<Tensor>(featureSizes.Count);
        for (var l = 0; l < featureSizes.Count; l++)
        {
            result.Add(SingleLevelAnchors(featureSizes[l], Options.Strides[l], _baseAnchors[l], device));
        }
        return result;
    }

    /// <summary>
    /// Which anchors lie on feature locations that cover the un-padded image (mmdetection's valid_flags):
    /// at stride s, locations x &lt; ceil(validW / s) and y &lt; ceil(validH / s) are valid.
    /// featureSizes[l] = (H_l, W_l), validSize = (H, W) of the image before padding → per level [H_l·W_l·A] bool.
    /// </summary>
    public IReadOnlyList<Tensor> ValidFlags(IReadOnlyList<(int H, int W)> featureSizes, (int H, int W) validSize, Device device)
    {
        CheckLevels(featureSizes.Count);
        var result = new List<Tensor>(featureSizes.Count);
        for (var l = 0; l < featureSizes.Count; l++)
        {
            using var scope = NewDisposeScope();
            var (h, w) = featureSizes[l];
            var s = Options.Strides[l];
            var validH = Math.Min((validSize.H + s - 1) / s, h);
            var validW = Math.Min((validSize.W + s - 1) / s, w);
            using var limitX = validW.ToScalar();
            using var limitY = validH.ToScalar();
            var vx = ScalarFreeFactories.Arange(w, device: device).lt(limitX);
            var vy = ScalarFreeFactories.Arange(h, device: device).lt(limitY);
            var v = vy.unsqueeze(1).logical_and(vx.unsqueeze(0)).reshape(h * w, 1)
                .expand(h * w, NumAnchorsPerLocation).reshape(-1);
            result.Add(v.contiguous().MoveToOuterDisposeScope());
        }
        return result;
    }

    private Tensor SingleLevelAnchors((int H, int W) size, int stride, double[] levelBase, Device device)
    {
        using var scope = NewDisposeScope();
        var a = NumAnchorsPerLocation;
        var baseAnchors = tensor(levelBase, dtype: float64, device: device).reshape(a, 4);
        using var offset = Options.CenterOffset.ToScalar();
        using var step = stride.ToScalar();
        var shiftX = ScalarFreeFactories.Arange(size.W, float64, device).add(offset, ScalarConstants.One).mul(step);
        var shiftY = ScalarFreeFactories.Arange(size.H, float64, device).add(offset, ScalarConstants.One).mul(step);
        var xx = shiftX.unsqueeze(0).expand(size.H, size.W).reshape(-1);
        var yy = shiftY.unsqueeze(1).expand(size.H, size.W).reshape(-1);
        var shifts = stack(new[] { xx, yy, xx, yy }, 1); // [HW, 4]
        // float64 for the sum, then float32: exact for every anchor of practical image sizes.
        var anchors = shifts.unsqueeze(1).add(baseAnchors.unsqueeze(0), ScalarConstants.One).reshape(-1, 4).to(float32);
        return anchors.MoveToOuterDisposeScope();
    }

    private void CheckLevels(int count)
    {
        if (count != Options.Strides.Length)
        {
            throw new ArgumentException(
                $"Got {count} feature sizes but the anchor generator has {Options.Strides.Length} strides; give one (H, W) per level.");
        }
    }
}
