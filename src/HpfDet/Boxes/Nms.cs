using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Boxes;

/// <summary>
/// Greedy non-maximum suppression with torchvision.ops.nms semantics: boxes are visited in descending
/// score order (stable sort, so equal scores keep their input order); a visited box that is not yet
/// suppressed is kept and suppresses every later box whose IoU with it is strictly greater than the
/// threshold. IoU is computed in float32 and compared with the float64 threshold, as torchvision does.
/// <para>
/// How it avoids per-box host round trips: the IoU &gt; threshold matrix of the score-sorted boxes is
/// computed on the boxes' device in row chunks (only columns right of each row's word) and packed there
/// into bits; the packed matrix (N·⌈N/64⌉ words, 3 MB for N = 5000) goes to the host in one transfer, where the greedy pass is one
/// OR of a row of words per kept box. For boxes already on the CPU the greedy pass runs directly on a host
/// copy of the boxes (torchvision's CPU kernel), which is faster than building the N² matrix.
/// </para>
/// </summary>
public static class Nms
{
    /// <summary>Elements of one IoU chunk (rows × N); bounds temporary memory to a few tens of MB.</summary>
    private const long ChunkElements = 1L << 21;

    /// <summary>
    /// Indices of the kept boxes, sorted by descending score. boxes [N, 4] xyxy, scores [N] → [K] int64
    /// on the boxes' device. (C# forbids a method named like its class; <see cref="BoxOps.Nms"/> forwards here.)
    /// </summary>
    public static Tensor Apply(Tensor boxes, Tensor scores, double iouThreshold)
        => Suppress(boxes, scores, null, iouThreshold);

    /// <summary>
    /// Class-aware NMS: boxes of different classes never suppress each other. boxes [N, 4], scores [N],
    /// classIds [N] (any integer type) → kept indices [K] int64, sorted by descending score.
    /// <para>
    /// Equivalent to torchvision's batched_nms (coordinate-offset trick), but implemented by requiring
    /// equal class ids in the suppression matrix: the offset trick moves boxes to coordinates up to
    /// classId·(max+1), where float32 loses precision; the class test keeps every per-class IoU exact.
    /// </para>
    /// </summary>
    public static Tensor BatchedNms(Tensor boxes, Tensor scores, Tensor classIds, double iouThreshold)
        => Suppress(boxes, scores, classIds, iouThreshold);

    internal static Tensor Suppress(
        Tensor boxes, Tensor scores, Tensor? classIds, double iouThreshold, long chunkElements = ChunkElements, bool? onHost = null)
    {
        if (boxes.dim() != 2 || boxes.shape[1] != 4)
        {
            throw new ArgumentException($"NMS boxes must be [N, 4]; got [{string.Join(", ", boxes.shape)}].");
        }
        var n = boxes.shape[0];
        if (scores.dim() != 1 || scores.shape[0] != n)
        {
            throw new ArgumentException($"NMS scores must be [N] with N = {n}; got [{string.Join(", ", scores.shape)}].");
        }
        if (classIds is not null && (classIds.dim() != 1 || classIds.shape[0] != n))
        {
            throw new ArgumentException($"NMS class ids must be [N] with N = {n}; got [{string.Join(", ", classIds.shape)}].");
        }
        var device = boxes.device;
        if (n == 0)
        {
            return empty(0, dtype: int64, device: device);
        }

        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var order = scores.sort(0, descending: true, stable: true).Indices; // [N]
        var sortedBoxes = boxes.index_select(0, order).to(float32);         // [N, 4]
        var sortedClasses = classIds?.index_select(0, order);
        if (onHost ?? device.type == DeviceType.CPU)
        {
            // Boxes already in host memory: torchvision's CPU kernel (pairs visited only after a keep) beats
            // building the N² matrix.
            var keptOnHost = GreedyOnHost(sortedBoxes, sortedClasses, iouThreshold);
            return order.index_select(0, tensor(keptOnHost, dtype: int64, device: device)).MoveToOuterDisposeScope();
        }

        // float32 IoU > float64 threshold  <=>  IoU > (largest float32 <= threshold).
        var thr = (float)iouThreshold;
        if (thr > iouThreshold)
        {
            thr = MathF.BitDecrement(thr);
        }
        using var threshold = thr.ToScalar();

        var words = (n + 63) / 64;
        // Bit b of a byte is worth 2^b; bits are disjoint, so the uint8 sum is the bitwise OR. Eight bytes
        // read little-endian form one 64-bit word whose bit k is column 64·word + k.
        var byteWeights = tensor(new byte[] { 1, 2, 4, 8, 16, 32, 64, 128 }, device: device);
        var packedChunks = new List<Tensor>();

        // Row i only needs columns j > i, so a chunk of rows starting at r0 is compared with the columns from
        // the word that holds r0 onward (about half the pairs of the full matrix).
        var rowsPerChunk = Math.Max(64, chunkElements / Math.Max(1, n) / 64 * 64);
        for (long r0 = 0; r0 < n; r0 += rowsPerChunk)
        {
            using var chunkScope = NewDisposeScope(); // frees each chunk's IoU temporaries before the next
            var rows = Math.Min(rowsPerChunk, n - r0);
            var firstWord = r0 / 64;
            var c0 = firstWord * 64;
            var cols = n - c0;
            var chunkWords = words - firstWord;
            var iou = BoxOps.PairwiseIoU(sortedBoxes.narrow(0, r0, rows), sortedBoxes.narrow(0, c0, cols)); // [rows, cols]
            var suppress = iou.gt(threshold);
            if (sortedClasses is not null)
            {
                var same = sortedClasses.narrow(0, r0, rows).unsqueeze(1).eq(sortedClasses.narrow(0, c0, cols).unsqueeze(0));
                suppress = suppress.logical_and(same);
            }
            var suppressBytes = suppress.to(uint8);
            if (chunkWords * 64 > cols)
            {
                suppressBytes = nn.functional.pad(suppressBytes, [0, chunkWords * 64 - cols]);
            }
            var packed = (suppressBytes.reshape(rows, chunkWords * 8, 8) * byteWeights).sum(-1, type: uint8); // [rows, chunkWords*8]
            // Left-pad to full rows so the chunks stack into one [N, words·8] byte matrix.
            var fullRows = firstWord > 0 ? nn.functional.pad(packed, [firstWord * 8, 0]) : packed;
            packedChunks.Add(fullRows.MoveToOuterDisposeScope());
        }
        var packedBytes = cat(packedChunks, 0).cpu().data<byte>().ToArray(); // the one host transfer
        var bits = new ulong[n * words];
        Buffer.BlockCopy(packedBytes, 0, bits, 0, packedBytes.Length);

        var removed = new ulong[words];
        var keep = new List<long>();
        for (long i = 0; i < n; i++)
        {
            var w = (int)(i >> 6);
            if (((removed[w] >> (int)(i & 63)) & 1UL) != 0)
            {
                continue;
            }
            keep.Add(i);
            var rowStart = i * words;
            for (var k = w; k < words; k++)
            {
                removed[k] |= bits[rowStart + k];
            }
        }
        var keepSorted = tensor(keep.ToArray(), dtype: int64, device: device);
        return order.index_select(0, keepSorted).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Greedy pass on score-sorted boxes in host memory, with torchvision's CPU arithmetic: float32 areas,
    /// intersection and quotient, compared with the float64 threshold. Returns positions in the sorted order.
    /// </summary>
    private static long[] GreedyOnHost(Tensor sortedBoxes, Tensor? sortedClasses, double iouThreshold)
    {
        var b = sortedBoxes.contiguous().cpu().data<float>().ToArray();
        var cls = sortedClasses?.to(int64).cpu().data<long>().ToArray();
        var n = b.Length / 4;
        var areas = new float[n];
        for (var i = 0; i < n; i++)
        {
            areas[i] = (b[4 * i + 2] - b[4 * i]) * (b[4 * i + 3] - b[4 * i + 1]);
        }
        var suppressed = new bool[n];
        var keep = new List<long>();
        for (var i = 0; i < n; i++)
        {
            if (suppressed[i])
            {
                continue;
            }
            keep.Add(i);
            float ix1 = b[4 * i], iy1 = b[4 * i + 1], ix2 = b[4 * i + 2], iy2 = b[4 * i + 3];
            for (var j = i + 1; j < n; j++)
            {
                if (suppressed[j] || (cls is not null && cls[j] != cls[i]))
                {
                    continue;
                }
                var w = MathF.Max(0f, MathF.Min(ix2, b[4 * j + 2]) - MathF.Max(ix1, b[4 * j]));
                var h = MathF.Max(0f, MathF.Min(iy2, b[4 * j + 3]) - MathF.Max(iy1, b[4 * j + 1]));
                var inter = w * h;
                var union = areas[i] + areas[j] - inter;
                // A zero union (two empty boxes) gives no suppression, like torchvision's NaN.
                if (union > 0f && (double)(inter / union) > iouThreshold)
                {
                    suppressed[j] = true;
                }
            }
        }
        return keep.ToArray();
    }
}
