using System.Diagnostics;
using HpfDet.Data;
using HpfDet.Evaluation;
using HpfDet.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace HpfDet.Training;

/// <summary>Predictions of a whole split in COCO form, and their COCO and VOC evaluation.</summary>
/// <param name="Coco">pycocotools-identical bounding-box evaluation.</param>
/// <param name="Voc">Pascal VOC mAP@0.5.</param>
/// <param name="Detections">All detections in original-image coordinates, COCO category ids.</param>
/// <param name="GroundTruth">The split's COCO ground truth.</param>
/// <param name="Seconds">Inference plus evaluation time.</param>
public sealed record DetectionEvaluationResult(CocoEvalResult Coco, VocResult Voc, CocoDetections Detections, CocoGroundTruth GroundTruth, double Seconds);

/// <summary>Runs a detector over a dataset split and evaluates it against the split's ground truth.</summary>
public static class DetectionEvaluation
{
    /// <summary>The dataset's ground truth as COCO (through the COCO writer, so ids match the samples).</summary>
    public static CocoGroundTruth GroundTruthOf(DetectionDataset dataset) =>
        CocoGroundTruth.Parse(CocoGroundTruthWriter.ToJson(dataset));

    /// <summary>
    /// Predicts every image of <paramref name="loader"/> (an unshuffled evaluation loader), maps boxes
    /// back to the original images and evaluates them. <paramref name="progress"/> gets (done, total) images.
    /// </summary>
    public static DetectionEvaluationResult Run(DenseDetector model, DetectionDataset dataset, DataLoader loader, Action<int, int>? progress = null, CancellationToken cancellationToken = default)
    {
        var sw = Stopwatch.StartNew();
        var gt = GroundTruthOf(dataset);
        var detections = Predict(model, dataset, loader, progress, cancellationToken);
        var coco = CocoEvaluator.Evaluate(gt, detections);
        var voc = VocEvaluator.Evaluate(gt, detections);
        return new DetectionEvaluationResult(coco, voc, detections, gt, sw.Elapsed.TotalSeconds);
    }

    /// <summary>All detections of the loader's images, in original-image pixels, as COCO results.</summary>
    public static CocoDetections Predict(DenseDetector model, DetectionDataset dataset, DataLoader loader, Action<int, int>? progress = null, CancellationToken cancellationToken = default)
    {
        bool wasTraining = model.training;
        model.eval();
        var results = new List<CocoDetection>();
        int done = 0;
        try
        {
            foreach (var batch in loader.Epoch(0, cancellationToken))
            {
                using var scope = torch.NewDisposeScope();
                using var _ = batch;
                var sizes = batch.Meta.Select(m => (m.Height, m.Width)).ToArray();
                var dets = model.Predict(batch.Images, sizes);
                for (int i = 0; i < dets.Count; i++)
                {
                    var meta = batch.Meta[i];
                    var boxes = dets[i].Boxes.ToArray<float>();
                    var scores = dets[i].Scores.ToArray<float>();
                    var labels = dets[i].Labels.ToArray<long>();
                    meta.MapToOriginal(boxes);
                    for (int k = 0; k < scores.Length; k++)
                    {
                        double x1 = Math.Clamp(boxes[4 * k], 0, meta.OriginalWidth), y1 = Math.Clamp(boxes[4 * k + 1], 0, meta.OriginalHeight);
                        double x2 = Math.Clamp(boxes[4 * k + 2], 0, meta.OriginalWidth), y2 = Math.Clamp(boxes[4 * k + 3], 0, meta.OriginalHeight);
                        results.Add(new CocoDetection(meta.ImageId, dataset.CategoryIdOf((int)labels[k]), x1, y1, x2 - x1, y2 - y1, scores[k]));
                    }
                }
                done += batch.Count;
                progress?.Invoke(done, dataset.Count);
            }
        }
        finally
        {
            if (wasTraining) model.train();
        }
        return new CocoDetections(results);
    }

    /// <summary>The run-log entry of an evaluation.</summary>
    public static EvaluationLog ToLog(DetectionEvaluationResult r, int epoch, int iteration) =>
        new(epoch, iteration, r.Coco.Stats.ToArray(), r.Coco.PerCategory.Select(c => c.Stats[0]).ToArray(), r.Voc.MeanAp, r.Seconds);
}
