namespace HpfDet.Data.Transforms;

/// <summary>
/// One image with its boxes on its way through a <see cref="TransformPipeline"/>. Transforms change
/// the image and the boxes together and record what they did in the affine map (see <see cref="ImageMeta"/>).
/// </summary>
public sealed class TransformSample
{
    public TransformSample(ImageBuffer image, float[] boxes, long[] labels, bool[] ignored, int datasetIndex = 0, long imageId = 0)
    {
        if (boxes.Length != labels.Length * 4 || ignored.Length != labels.Length)
            throw new ArgumentException($"{boxes.Length} box values, {labels.Length} labels and {ignored.Length} flags do not describe the same boxes.");
        Image = image;
        Boxes = boxes;
        Labels = labels;
        Ignored = ignored;
        DatasetIndex = datasetIndex;
        ImageId = imageId;
        OriginalWidth = PaddedWidth = image.Width;
        OriginalHeight = PaddedHeight = image.Height;
    }

    /// <summary>Builds the starting state from a dataset sample (decodes the image).</summary>
    public static TransformSample From(DetectionSample sample, int datasetIndex) => From(sample, sample.LoadImage(), datasetIndex);

    /// <summary>Builds the starting state from a sample and its already decoded image.</summary>
    public static TransformSample From(DetectionSample sample, ImageBuffer image, int datasetIndex)
    {
        var n = sample.Boxes.Count;
        var boxes = new float[n * 4];
        var labels = new long[n];
        var ignored = new bool[n];
        // Annotations refer to the declared size; a file of another size gets its boxes scaled to it.
        float sx = image.Width / (float)sample.Width, sy = image.Height / (float)sample.Height;
        for (var i = 0; i < n; i++)
        {
            var b = sample.Boxes[i];
            boxes[i * 4] = b.X1 * sx; boxes[i * 4 + 1] = b.Y1 * sy; boxes[i * 4 + 2] = b.X2 * sx; boxes[i * 4 + 3] = b.Y2 * sy;
            labels[i] = b.Label;
            ignored[i] = b.IsCrowd || b.Difficult;
        }
        return new TransformSample(image, boxes, labels, ignored, datasetIndex, sample.ImageId);
    }

    public ImageBuffer Image { get; set; }
    /// <summary>[N, 4] xyxy pixels in the current frame, flattened.</summary>
    public float[] Boxes { get; set; }
    /// <summary>[N] class indices.</summary>
    public long[] Labels { get; set; }
    /// <summary>[N] crowd or difficult: neither a positive nor a miss.</summary>
    public bool[] Ignored { get; set; }
    public int BoxCount => Labels.Length;

    public int DatasetIndex { get; }
    public long ImageId { get; }
    public int OriginalWidth { get; }
    public int OriginalHeight { get; }
    /// <summary>Size the image will occupy in the batch (at least the image size).</summary>
    public int PaddedWidth { get; set; }
    public int PaddedHeight { get; set; }

    public double XScale { get; set; } = 1;
    public double XOffset { get; set; }
    public double YScale { get; set; } = 1;
    public double YOffset { get; set; }

    public ImageMeta ToMeta() => new(DatasetIndex, ImageId, OriginalWidth, OriginalHeight, Image.Width, Image.Height,
        Math.Max(PaddedWidth, Image.Width), Math.Max(PaddedHeight, Image.Height), XScale, XOffset, YScale, YOffset);
}
