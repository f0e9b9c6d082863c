using HpfDet.Data;
using HpfDet.Models;
using HpfDet.Training;
using TorchSharp;
using BatchNorm2d = TorchSharp.Modules.BatchNorm2d;
using DataLoader = HpfDet.Data.DataLoader;
using static TorchSharp.torch;

namespace HpfDet.Benchmarks;

/// <summary>
/// Whether a checkpoint's evaluation suffers from the running statistics of its trainable BatchNorms (YOLOF's
/// encoder and head): evaluates the checkpoint on its validation split as saved, then recomputes those
/// statistics as the plain average over one pass of the training split (training transforms, no gradient, the
/// weights untouched; detectron2's PreciseBN) and evaluates again. The running statistics of an exponential
/// average with momentum 0.1 weigh the last ~10 batches; at batch 4 that is ~40 images.
/// Run: dotnet run -c Release --project bench/HpfDet.Benchmarks -- precise-bn RUN/checkpoints/last.ckpt
/// </summary>
public static class PreciseBatchNormProbe
{
    public static void Run(string checkpoint, TextWriter output)
    {
        TorchRuntime.EnsureCorrectConvolutions();
        torch.manual_seed(0);
        var (loaded, config, classNames) = Checkpoint.LoadDetector(checkpoint);
        using var model = loaded;
        var (train, val) = config.LoadDatasets();
        var valLoader = new DataLoader(val, config.TestTransforms(), config.InputNormalization(),
            new DataLoaderOptions(config.Train.Batch, 0, Shuffle: false));
        Report("as saved", DetectionEvaluation.Run(model, val, valLoader), output);

        // The BatchNorms that train with batch statistics are those left in training mode by train().
        model.train();
        var norms = model.modules().OfType<BatchNorm2d>().Where(m => m.training).ToList();
        foreach (var norm in norms)
        {
            norm.reset_running_stats();
            norm.momentum = null; // cumulative average over every batch
        }
        var trainLoader = new DataLoader(train, config.TrainTransforms(), config.InputNormalization(),
            new DataLoaderOptions(config.Train.Batch, 0, Shuffle: true));
        int images = 0;
        using (torch.no_grad())
            foreach (var batch in trainLoader.Epoch(0))
            {
                using var scope = torch.NewDisposeScope();
                using var _ = batch;
                model.forward(batch.Images);
                images += batch.Count;
            }
        output.WriteLine($"recomputed {norms.Count} BatchNorms' running statistics over {images} training images");
        Report("precise BN", DetectionEvaluation.Run(model, val, valLoader), output);
    }

    static void Report(string what, DetectionEvaluationResult result, TextWriter output) =>
        output.WriteLine($"  {what,-10} AP {result.Coco.Stats[0]:F3}  AP50 {result.Coco.Stats[1]:F3}  VOC mAP50 {result.Voc.MeanAp:F3}  " +
            $"per class AP {string.Join(" / ", result.Coco.PerCategory.Select(c => c.Stats[0].ToString("F3")))}");
}
