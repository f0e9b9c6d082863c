namespace HpfDet.Data.Transforms;

/// <summary>
/// One image with its boxes on its way through a <see cref="TransformPipeline"/>. Transforms change
/// the image and the boxes together and record what they did in the affine map (see <see cref="ImageMeta"/>).
/// </summary>
public sealed class TransformSample
{
    public TransformSample(ImageBuffer image, float[] boxes, long[] labels, bool[] ignored, int datasetIndex = 0, long imageId = 0)
        : this(image, boxes, labels, ignored, datasetIndex, imageId, null) { }

    /// <param name="decodedFrom">The full size <paramref name="image"/> was reduced from while decoding (null: not reduced);
    /// the original frame is then that size, and the boxes (given in it) are scaled to the image.</param>
    TransformSample(ImageBuffer image, float[] boxes, long[] labels, bool[] ignored, int datasetIndex, long imageId, (int Width, int Height)? decodedFrom)
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
        if (decodedFrom is { } full && full != (image.Width, image.Height))
        {
            OriginalWidth = full.Width;
            OriginalHeight = full.Height;
            double sx = image.Width / (double)full.Width, sy = image.Height / (double)full.Height;
            for (var i = 0; i < boxes.Length; i += 4)
            {
                boxes[i] = (float)(boxes[i] * sx); boxes[i + 2] = (float)(boxes[i + 2] * sx);
                boxes[i + 1] = (float)(boxes[i + 1] * sy); boxes[i + 3] = (float)(boxes[i + 3] * sy);
            }
            XScale = sx;
            YScale = sy;
            DecodedFrom = full;
        }
    }

    /// <summary>Builds the starting state from a dataset sample (decodes the image).</summary>
    public static TransformSample From(DetectionSample sample, int datasetIndex) => From(sample, sample.LoadImage(), datasetIndex);

    /// <summary>
    /// Builds the starting state, decoding the image reduced where the codec can to no less than
    /// <paramref name="minimumSize"/> of its full size (see <see cref="TransformPipeline.DecodeTarget"/>).
    /// </summary>
    public static TransformSample From(DetectionSample sample, int datasetIndex, Func<int, int, (int Width, int Height)>? minimumSize)
    {
        var image = sample.LoadImage(minimumSize, out var full);
        return From(sample, image, datasetIndex, full);
    }

    /// <summary>Builds the starting state from a sample and its already decoded image.</summary>
    public static TransformSample From(DetectionSample sample, ImageBuffer image, int datasetIndex) =>
        From(sample, image, datasetIndex, null);

    static TransformSample From(DetectionSample sample, ImageBuffer image, int datasetIndex, (int Width, int Height)? decodedFrom)
    {
        var n = sample.Boxes.Count;
        var boxes = new float[n * 4];
        var labels = new long[n];
        var ignored = new bool[n];
        // Annotations refer to the declared size; a file of another size gets its boxes scaled to it.
        var (fileWidth, fileHeight) = decodedFrom ?? (image.Width, image.Height);
        float sx = fileWidth / (float)sample.Width, sy = fileHeight / (float)sample.Height;
        for (var i = 0; i < n; i++)
        {
            var b = sample.Boxes[i];
            boxes[i * 4] = b.X1 * sx; boxes[i * 4 + 1] = b.Y1 * sy; boxes[i * 4 + 2] = b.X2 * sx; boxes[i * 4 + 3] = b.Y2 * sy;
            labels[i] = b.Label;
            ignored[i] = b.IsCrowd || b.Difficult;
        }
        return new TransformSample(image, boxes, labels, ignored, datasetIndex, sample.ImageId, decodedFrom);
    }

    public ImageBuffer Image { get; set; }
    /// <summary>
    /// The full size the image was reduced from while decoding, until the first resize (which sizes
    /// its output from it, so that the result matches a full-size decode); null when not reduced.
    /// </summary>
    public (int Width, int Height)? DecodedFrom { get; set; }
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
