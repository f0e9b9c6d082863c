using ScottPlot;

namespace HpfDet.Evaluation;

/// <summary>Precision-recall curves of a COCO evaluation as a PNG chart.</summary>
public static class PrPlotter
{
    /// <summary>
    /// Writes one chart with a curve per category (interpolated precision at the 101 recall thresholds,
    /// IoU 0.5, area all, maxDets 100) and their mean over the categories that have ground truth.
    /// Categories without ground truth are left out. Returns the path written.
    /// </summary>
    public static string Write(CocoEvalResult result, string path, int width = 1000, int height = 750)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        var t = Array.IndexOf(result.IouThresholds, 0.5);
        var m = Array.IndexOf(result.MaxDets, 100);
        if (m < 0) m = result.MaxDets.Length - 1;
        var recall = result.RecallThresholds;
        int R = recall.Length, K = result.CategoryIds.Length;

        var plot = new Plot();
        var mean = new double[R];
        var defined = 0;
        for (var k = 0; k < K; k++)
        {
            if (result.Precision[t, 0, k, 0, m] < 0) continue;
            var p = new double[R];
            for (var r = 0; r < R; r++) { p[r] = result.Precision[t, r, k, 0, m]; mean[r] += p[r]; }
            defined++;
            var curve = plot.Add.ScatterLine(recall, p);
            curve.LineWidth = 1;
            if (K <= 20) curve.LegendText = $"{result.CategoryNames[k]} {result.PerCategory[k].AP50:0.000}";
        }
        if (defined > 0)
        {
            for (var r = 0; r < R; r++) mean[r] /= defined;
            var all = plot.Add.ScatterLine(recall, mean);
            all.LineWidth = 3;
            all.Color = Colors.Black;
            all.LegendText = $"mean (AP50 {result.Stats[1]:0.000})";
        }
        plot.Title("Precision-recall, IoU 0.50, area all, maxDets 100");
        plot.XLabel("Recall");
        plot.YLabel("Precision");
        plot.Axes.SetLimits(0, 1, 0, 1.02);
        plot.ShowLegend(Alignment.LowerLeft);
        plot.SavePng(path, width, height);
        return path;
    }
}
