using HpfDet.Data;
using HpfDet.Evaluation;
using HpfDet.Inference;

namespace HpfDet.Cli;

/// <summary>Runs an exported model (HpfDet.Inference) over a dataset and gives COCO results, as the libtorch evaluation does.</summary>
public static class OnnxPrediction
{
    /// <summary>
    /// All detections in original-image pixels, with the dataset's category ids. Images go in batches of
    /// <paramref name="batchSize"/> in dataset order (the libtorch evaluation loader's batches, so the
    /// same padding); an image that cannot be decoded is counted in <paramref name="issues"/> and skipped.
    /// </summary>
    public static CocoDetections Predict(OnnxDetector detector, DetectionDataset dataset, int batchSize, DataIssues issues, Action<int, int>? progress = null)
    {
        var results = new List<CocoDetection>();
        int done = 0;
        foreach (var chunk in Enumerable.Range(0, dataset.Count).Chunk(Math.Max(1, batchSize)))
        {
            var samples = new List<DetectionSample>();
            var images = new List<RgbaImage>();
            foreach (var i in chunk)
            {
                try
                {
                    // Decoded reduced where the codec can, as the libtorch evaluation's loader does: the same pixels.
                    var image = dataset[i].LoadImage(detector.ResizedSize, out var full);
                    images.Add(new RgbaImage(image.Width, image.Height, image.Rgba) { SourceSize = full });
                    samples.Add(dataset[i]);
                }
                catch (HpfDetException e) { issues.Add(DataIssueKind.CorruptImage, dataset[i].ImagePath, e.Message); }
            }
            if (images.Count > 0)
            {
                var detections = detector.Detect(images);
                for (int k = 0; k < samples.Count; k++)
                    foreach (var d in detections[k])
                        results.Add(new CocoDetection(samples[k].ImageId, dataset.CategoryIdOf(d.Label), d.X1, d.Y1, (double)d.X2 - d.X1, (double)d.Y2 - d.Y1, d.Score));
            }
            done += chunk.Length;
            progress?.Invoke(done, dataset.Count);
        }
        return new CocoDetections(results);
    }
}
