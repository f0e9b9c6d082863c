using System.Collections.Concurrent;
using HpfDet.Data.Transforms;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Data;

/// <summary>Options of <see cref="DataLoader"/>.</summary>
/// <param name="BatchSize">Images per batch.</param>
/// <param name="Workers">Threads decoding and augmenting (each builds whole batches); 0 runs on the caller's thread.</param>
/// <param name="Prefetch">Batches ready ahead of the consumer, over all workers (at least one per worker).</param>
/// <param name="Shuffle">Reorder samples every epoch (seeded by (Seed, epoch)).</param>
/// <param name="Seed">Root of every random choice: results are identical for a seed whatever the worker count.</param>
/// <param name="DropLast">Drop the last incomplete batch.</param>
/// <param name="SizeDivisor">Batch height and width are rounded up to a multiple of this.</param>
/// <param name="Strict">Throw on an unreadable image instead of leaving it out of its batch with a recorded issue.</param>
public sealed record DataLoaderOptions(
    int BatchSize = 2,
    int Workers = 2,
    int Prefetch = 4,
    bool Shuffle = true,
    int Seed = 0,
    bool DropLast = false,
    int SizeDivisor = 32,
    bool Strict = false);

/// <summary>
/// Turns a dataset into batches: decode, transform and collate run on worker threads feeding bounded
/// queues, consumed in batch order. Each sample's random stream is derived from (seed, epoch, dataset
/// index), so the batches are the same for any worker count.
/// </summary>
public sealed class DataLoader
{
    readonly DetectionDataset dataset;
    readonly TransformPipeline transforms;
    readonly ImageNormalization normalization;

    public DataLoader(DetectionDataset dataset, TransformPipeline transforms, ImageNormalization normalization, DataLoaderOptions? options = null)
    {
        Options = options ?? new DataLoaderOptions();
        if (Options.BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(options), "BatchSize must be at least 1.");
        if (Options.Workers < 0) throw new ArgumentOutOfRangeException(nameof(options), "Workers must be 0 or more.");
        if (Options.SizeDivisor < 1) throw new ArgumentOutOfRangeException(nameof(options), "SizeDivisor must be at least 1.");
        this.dataset = dataset;
        this.transforms = transforms;
        this.normalization = normalization;
        Issues = new DataIssues(Options.Strict);
    }

    public DataLoaderOptions Options { get; }

    /// <summary>Called with every batch built, on the thread that built it (lets tests check that each one is disposed).</summary>
    internal Action<DetectionBatch>? BatchCreated { get; set; }

    /// <summary>Images that could not be decoded while loading (left out of their batch).</summary>
    public DataIssues Issues { get; }

    public int BatchesPerEpoch => Options.DropLast ? dataset.Count / Options.BatchSize : (dataset.Count + Options.BatchSize - 1) / Options.BatchSize;

    /// <summary>The dataset indices in the order epoch <paramref name="epoch"/> visits them.</summary>
    public int[] EpochOrder(int epoch)
    {
        var order = Enumerable.Range(0, dataset.Count).ToArray();
        if (Options.Shuffle) new Random(SeedFor(Options.Seed, epoch, -1)).Shuffle(order);
        return order;
    }

    /// <summary>
    /// The batches of one epoch, in order. Stopping early (break, dispose) stops the workers and
    /// disposes the batches they had prepared; batches handed out are the caller's to dispose.
    /// </summary>
    public IEnumerable<DetectionBatch> Epoch(int epoch, CancellationToken cancellationToken = default)
    {
        var order = EpochOrder(epoch);
        var batches = Enumerable.Range(0, BatchesPerEpoch)
            .Select(b => order.Skip(b * Options.BatchSize).Take(Options.BatchSize).ToArray())
            .ToArray();
        if (Options.Workers == 0)
        {
            foreach (var indices in batches)
            {
                cancellationToken.ThrowIfCancellationRequested();
                yield return Collate(indices, epoch);
            }
            yield break;
        }

        var workers = Math.Min(Options.Workers, Math.Max(1, batches.Length));
        var perWorker = Math.Max(1, Options.Prefetch / workers);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var queues = Enumerable.Range(0, workers).Select(_ => new BlockingCollection<(DetectionBatch? Batch, Exception? Error)>(perWorker)).ToArray();
        var threads = Enumerable.Range(0, workers).Select(w => new Thread(() => Work(w)) { IsBackground = true, Name = $"hpfdet-data-{w}" }).ToArray();

        // Worker w builds batches w, w + workers, …; the consumer reads them round-robin, so the
        // order is fixed while the work runs in parallel.
        void Work(int w)
        {
            try
            {
                for (var b = w; b < batches.Length; b += workers)
                {
                    cts.Token.ThrowIfCancellationRequested();
                    (DetectionBatch?, Exception?) item;
                    try { item = (Collate(batches[b], epoch), null); }
                    catch (Exception e) { item = (null, e); }
                    try { queues[w].Add(item, cts.Token); }
                    catch (OperationCanceledException)
                    {
                        // Stopped while waiting for room: the batch never reaches the queue, so it is disposed here.
                        item.Item1?.Dispose();
                        throw;
                    }
                    if (item.Item2 != null) return;
                }
            }
            catch (OperationCanceledException) { }
            finally { queues[w].CompleteAdding(); }
        }

        foreach (var t in threads) t.Start();
        try
        {
            for (var b = 0; b < batches.Length; b++)
            {
                var (batch, error) = queues[b % workers].Take(cancellationToken);
                if (error != null) throw error is HpfDetException ? error : new InvalidOperationException($"Loading batch {b} of epoch {epoch} failed: {error.Message}", error);
                yield return batch!;
            }
        }
        finally
        {
            cts.Cancel();
            foreach (var t in threads) t.Join();
            foreach (var q in queues)
            {
                while (q.TryTake(out var left)) left.Batch?.Dispose();
                q.Dispose();
            }
        }
    }

    /// <summary>
    /// Decodes and transforms dataset sample <paramref name="index"/> as epoch <paramref name="epoch"/> would
    /// (same random stream), without normalising.
    /// </summary>
    public TransformSample Prepare(int index, int epoch)
    {
        var sample = TransformSample.From(dataset[index], index, transforms.DecodeTarget);
        transforms.Apply(sample, new Random(SeedFor(Options.Seed, epoch, index)));
        return sample;
    }

    DetectionBatch Collate(int[] indices, int epoch)
    {
        var prepared = new List<TransformSample>(indices.Length);
        foreach (var i in indices)
        {
            try { prepared.Add(Prepare(i, epoch)); }
            catch (HpfDetException e) when (!Options.Strict)
            {
                Issues.Add(DataIssueKind.CorruptImage, dataset[i].ImagePath, e.Message);
            }
        }
        var div = Options.SizeDivisor;
        var height = PadToMultiple.RoundUp(Math.Max(1, prepared.Count == 0 ? 1 : prepared.Max(s => Math.Max(s.PaddedHeight, s.Image.Height))), div);
        var width = PadToMultiple.RoundUp(Math.Max(1, prepared.Count == 0 ? 1 : prepared.Max(s => Math.Max(s.PaddedWidth, s.Image.Width))), div);
        var plane = 3 * height * width;
        var pixels = new float[prepared.Count * plane];
        var boxes = new List<Tensor>(prepared.Count);
        var labels = new List<Tensor>(prepared.Count);
        var ignored = new List<Tensor>(prepared.Count);
        var meta = new List<ImageMeta>(prepared.Count);
        for (var k = 0; k < prepared.Count; k++)
        {
            var s = prepared[k];
            normalization.WriteChw(s.Image, pixels.AsSpan(k * plane, plane), width, height);
            boxes.Add(torch.tensor(s.Boxes, [s.BoxCount, 4], ScalarType.Float32));
            labels.Add(torch.tensor(s.Labels, [s.BoxCount], ScalarType.Int64));
            ignored.Add(torch.tensor(s.Ignored, [s.BoxCount], ScalarType.Bool));
            meta.Add(s.ToMeta() with { PaddedWidth = width, PaddedHeight = height });
        }
        var images = torch.tensor(pixels, [prepared.Count, 3, height, width], ScalarType.Float32);
        var batch = new DetectionBatch(images, boxes, labels, ignored, meta);
        BatchCreated?.Invoke(batch);
        return batch;
    }

    /// <summary>A seed mixed from (seed, epoch, index) with SplitMix64 steps, so nearby triples give unrelated streams.</summary>
    public static int SeedFor(int seed, int epoch, int index)
    {
        var z = Mix((ulong)(uint)seed * 0x9E3779B97F4A7C15UL);
        z = Mix(z ^ (ulong)(uint)epoch);
        z = Mix(z ^ (ulong)(uint)index);
        return (int)(z & 0x7FFFFFFF);
    }

    static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
