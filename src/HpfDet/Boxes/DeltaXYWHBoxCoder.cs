using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Boxes;

/// <summary>Options of <see cref="DeltaXYWHBoxCoder"/> (defaults are mmdetection's ATSS settings).</summary>
public sealed record DeltaXYWHBoxCoderOptions
{
    /// <param name="Means">Mean subtracted from (dx, dy, dw, dh) after encoding; null means (0, 0, 0, 0).</param>
    /// <param name="Stds">Std dividing (dx, dy, dw, dh) after encoding; null means (0.1, 0.1, 0.2, 0.2).</param>
    /// <param name="WhRatioClip">Decoded dw, dh are clamped to ±|log(WhRatioClip)| so exp() cannot overflow.</param>
    /// <param name="ClampBelow">Also clamp dw, dh from below (mmdetection); false clamps them from above only (torchvision's BoxCoder).</param>
    /// <param name="CenterClamp">When set, the decoded centre moves at most this many pixels from the anchor's centre per axis
    /// (mmdetection's add_ctr_clamp / ctr_clamp; YOLOF: 32); null: no centre clamp.</param>
    public DeltaXYWHBoxCoderOptions(double[]? Means = null, double[]? Stds = null, double WhRatioClip = 16.0 / 1000.0, bool ClampBelow = true, double? CenterClamp = null)
    {
        this.ClampBelow = ClampBelow;
        this.CenterClamp = CenterClamp;
        this.Means = Means ?? [0.0, 0.0, 0.0, 0.0];
        this.Stds = Stds ?? [0.1, 0.1, 0.2, 0.2];
        this.WhRatioClip = WhRatioClip;
    }

    /// <summary>Mean subtracted from (dx, dy, dw, dh) after encoding.</summary>
    public double[] Means { get; init; }

    /// <summary>Std dividing (dx, dy, dw, dh) after encoding.</summary>
    public double[] Stds { get; init; }

    /// <summary>Decoded dw, dh are clamped to ±|log(WhRatioClip)|.</summary>
    public double WhRatioClip { get; init; }

    /// <summary>Whether dw, dh are also clamped from below.</summary>
    public bool ClampBelow { get; init; }

    /// <summary>Largest centre shift in pixels per axis at decoding, or null for none.</summary>
    public double? CenterClamp { get; init; }

    /// <summary>torchvision's BoxCoder: weights (1, 1, 1, 1), dw, dh clamped above at log(1000/16) only.</summary>
    public static DeltaXYWHBoxCoderOptions Torchvision() => new(Stds: [1.0, 1.0, 1.0, 1.0], ClampBelow: false);

    /// <summary>
    /// YOLOF's coder (mmdetection 2.x's DeltaXYWHBBoxCoder with add_ctr_clamp): stds 1, the centre shift clamped
    /// to ±32 pixels, and, as with add_ctr_clamp, dw, dh clamped from above only.
    /// </summary>
    public static DeltaXYWHBoxCoderOptions Yolof() => new(Stds: [1.0, 1.0, 1.0, 1.0], ClampBelow: false, CenterClamp: 32);
}

/// <summary>
/// Encodes ground-truth boxes as offsets from anchors and back (mmdetection's DeltaXYWHBBoxCoder,
/// non-legacy: widths are x2 - x1 without +1):
/// dx = (gx - ax) / aw, dy = (gy - ay) / ah, dw = log(gw / aw), dh = log(gh / ah), then (d - mean) / std.
/// Works on [..., 4] tensors of any leading shape that broadcast against each other.
/// </summary>
public sealed class DeltaXYWHBoxCoder
{
    private readonly double[] _means;
    private readonly double[] _stds;
    private readonly double _maxLogRatio;

    public DeltaXYWHBoxCoder(DeltaXYWHBoxCoderOptions? options = null)
    {
        Options = options ?? new DeltaXYWHBoxCoderOptions();
        _means = Options.Means;
        _stds = Options.Stds;
        if (_means.Length != 4 || _stds.Length != 4)
        {
            throw new HpfDetException(
                $"DeltaXYWHBoxCoderOptions: Means and Stds need exactly 4 values (dx, dy, dw, dh); got {_means.Length} and {_stds.Length}.");
        }
        if (_stds.Any(s => !(s > 0)))
        {
            throw new HpfDetException("DeltaXYWHBoxCoderOptions.Stds: every value must be > 0.");
        }
        if (!(Options.WhRatioClip > 0))
        {
            throw new HpfDetException("DeltaXYWHBoxCoderOptions.WhRatioClip must be > 0 (default 0.016).");
        }
        if (Options.CenterClamp is { } clamp && !(clamp > 0))
        {
            throw new HpfDetException($"DeltaXYWHBoxCoderOptions.CenterClamp must be > 0 or unset; got {clamp}.");
        }
        _maxLogRatio = Math.Abs(Math.Log(Options.WhRatioClip));
    }

    public DeltaXYWHBoxCoderOptions Options { get; }

    /// <summary>Regression targets. anchors [N, 4], gt [N, 4] → deltas [N, 4] (normalised by Means/Stds).</summary>
    public Tensor Encode(Tensor anchors, Tensor gt)
    {
        using var scope = NewDisposeScope();
        var (ax, ay, aw, ah) = XYWH(anchors);
        var (gx, gy, gw, gh) = XYWH(gt);
        var dx = (gx - ax) / aw;
        var dy = (gy - ay) / ah;
        var dw = (gw / aw).log();
        var dh = (gh / ah).log();
        var deltas = stack(new[] { dx, dy, dw, dh }, -1);
        return Normalise(deltas).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Boxes from anchors and predicted deltas. anchors [N, 4], deltas [N, 4] (or [B, N, 4]) → boxes of the
    /// deltas' shape. dw, dh are clamped to ±|log(WhRatioClip)| (from above only without ClampBelow); with
    /// <see cref="DeltaXYWHBoxCoderOptions.CenterClamp"/> the centre shift (aw·dx, ah·dy) is clamped to ±CenterClamp pixels;
    /// with <paramref name="maxShape"/> x is clamped to [0, W] and y to [0, H].
    /// </summary>
    public Tensor Decode(Tensor anchors, Tensor deltas, (int H, int W)? maxShape = null)
    {
        using var scope = NewDisposeScope();
        var means = tensor(_means, dtype: deltas.dtype, device: deltas.device);
        var stds = tensor(_stds, dtype: deltas.dtype, device: deltas.device);
        var d = (deltas * stds).add(means, ScalarConstants.One);
        var (ax, ay, aw, ah) = XYWH(anchors);
        var dx = d.select(-1, 0);
        var dy = d.select(-1, 1);
        using var minLogRatio = (-_maxLogRatio).ToScalar();
        using var maxLogRatio = _maxLogRatio.ToScalar();
        // mmdetection clamps dw, dh on both sides; torchvision only from above (ClampBelow = false).
        var dw = Options.ClampBelow ? d.select(-1, 2).clamp(minLogRatio, maxLogRatio) : d.select(-1, 2).clamp_max(maxLogRatio);
        var dh = Options.ClampBelow ? d.select(-1, 3).clamp(minLogRatio, maxLogRatio) : d.select(-1, 3).clamp_max(maxLogRatio);
        var shiftX = aw * dx;
        var shiftY = ah * dy;
        if (Options.CenterClamp is { } centerClamp)
        {
            using var maxShift = centerClamp.ToScalar();
            using var minShift = (-centerClamp).ToScalar();
            shiftX = shiftX.clamp(minShift, maxShift);
            shiftY = shiftY.clamp(minShift, maxShift);
        }
        var cx = ax.add(shiftX, ScalarConstants.One);
        var cy = ay.add(shiftY, ScalarConstants.One);
        var halfW = (aw * dw.exp()).mul(ScalarConstants.HalfDouble);
        var halfH = (ah * dh.exp()).mul(ScalarConstants.HalfDouble);
        var x1 = cx - halfW;
        var y1 = cy - halfH;
        var x2 = cx.add(halfW, ScalarConstants.One);
        var y2 = cy.add(halfH, ScalarConstants.One);
        if (maxShape is { } shape)
        {
            using var maxX = shape.W.ToScalar();
            using var maxY = shape.H.ToScalar();
            x1 = x1.clamp(ScalarConstants.Zero, maxX);
            x2 = x2.clamp(ScalarConstants.Zero, maxX);
            y1 = y1.clamp(ScalarConstants.Zero, maxY);
            y2 = y2.clamp(ScalarConstants.Zero, maxY);
        }
        return stack(new[] { x1, y1, x2, y2 }, -1).MoveToOuterDisposeScope();
    }

    private Tensor Normalise(Tensor deltas)
    {
        var means = tensor(_means, dtype: deltas.dtype, device: deltas.device);
        var stds = tensor(_stds, dtype: deltas.dtype, device: deltas.device);
        return (deltas - means) / stds;
    }

    private static (Tensor X, Tensor Y, Tensor W, Tensor H) XYWH(Tensor boxes)
    {
        var x1 = boxes.select(-1, 0);
        var y1 = boxes.select(-1, 1);
        var x2 = boxes.select(-1, 2);
        var y2 = boxes.select(-1, 3);
        return (x1.add(x2, ScalarConstants.One).mul(ScalarConstants.HalfDouble), y1.add(y2, ScalarConstants.One).mul(ScalarConstants.HalfDouble), x2 - x1, y2 - y1);
    }
}
