using System.Globalization;
using System.Numerics;
using System.Text;

namespace HpfDet.Evaluation;

/// <summary>
/// The exact arithmetic of the numpy/Python calls pycocotools relies on, so that results agree to
/// the last bit: numpy.linspace, numpy's pairwise summation (np.mean) and Python's '{:0.3f}'.
/// </summary>
internal static class PyNumerics
{
    /// <summary>np.linspace(start, stop, num): start + i*step with step = (stop-start)/(num-1); the last element is stop.</summary>
    public static double[] Linspace(double start, double stop, int num)
    {
        var y = new double[num];
        if (num == 1) { y[0] = start; return y; }
        var step = (stop - start) / (num - 1);
        for (var i = 0; i < num; i++) y[i] = i * step + start;
        y[num - 1] = stop;
        return y;
    }

    /// <summary>numpy's pairwise_sum for float64 (8 accumulators, blocks of 128), as used by np.sum and np.mean.</summary>
    public static double PairwiseSum(ReadOnlySpan<double> a)
    {
        var n = a.Length;
        if (n < 8)
        {
            var res = 0.0;
            for (var i = 0; i < n; i++) res += a[i];
            return res;
        }
        if (n <= 128)
        {
            double r0 = a[0], r1 = a[1], r2 = a[2], r3 = a[3], r4 = a[4], r5 = a[5], r6 = a[6], r7 = a[7];
            int i;
            for (i = 8; i < n - n % 8; i += 8)
            {
                r0 += a[i]; r1 += a[i + 1]; r2 += a[i + 2]; r3 += a[i + 3];
                r4 += a[i + 4]; r5 += a[i + 5]; r6 += a[i + 6]; r7 += a[i + 7];
            }
            var res = (r0 + r1 + (r2 + r3)) + (r4 + r5 + (r6 + r7));
            for (; i < n; i++) res += a[i];
            return res;
        }
        var n2 = n / 2;
        n2 -= n2 % 8;
        return PairwiseSum(a[..n2]) + PairwiseSum(a[n2..]);
    }

    /// <summary>np.mean of the values greater than -1, or -1 when there are none (pycocotools' summarize).</summary>
    public static double MeanOfDefined(List<double> values)
    {
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(values);
        return span.Length == 0 ? -1 : (0.0 + PairwiseSum(span)) / span.Length;
    }

    /// <summary>Python's format(v, '0.3f'): the exact binary value rounded half-to-even to 3 decimals.</summary>
    public static string Fixed3(double v)
    {
        if (double.IsNaN(v)) return "nan";
        if (double.IsInfinity(v)) return v > 0 ? "inf" : "-inf";
        var negative = double.IsNegative(v);
        var bits = BitConverter.DoubleToInt64Bits(Math.Abs(v));
        var exp = (int)((bits >> 52) & 0x7FF);
        var mant = bits & 0xFFFFFFFFFFFFFL;
        if (exp == 0) exp = 1; else mant |= 1L << 52;
        var e = exp - 1075; // |v| = mant * 2^e
        BigInteger q;
        var scaled = new BigInteger(mant) * 1000;
        if (e >= 0) q = scaled << e;
        else
        {
            var den = BigInteger.One << -e;
            q = BigInteger.DivRem(scaled, den, out var rem);
            var twice = rem * 2;
            if (twice > den || (twice == den && !q.IsEven)) q += 1;
        }
        var digits = q.ToString(CultureInfo.InvariantCulture).PadLeft(4, '0');
        var sb = new StringBuilder();
        if (negative) sb.Append('-');
        sb.Append(digits, 0, digits.Length - 3).Append('.').Append(digits, digits.Length - 3, 3);
        return sb.ToString();
    }
}
