namespace HpfDet.Data;

/// <summary>
/// One image of a dataset with its ground truth. <see cref="ImagePath"/> is the file to decode, or a
/// descriptive name when <see cref="InMemoryImage"/> renders the pixels instead (synthetic data).
/// </summary>
/// <param name="ImageId">COCO image id when the source had one, else the 1-based position in the dataset.</param>
/// <param name="ImagePath">Absolute path of the image file.</param>
/// <param name="FileName">Path relative to the image folder, as written to COCO ground truth.</param>
/// <param name="Width">Width in pixels after EXIF orientation.</param>
/// <param name="Height">Height in pixels after EXIF orientation.</param>
/// <param name="Boxes">Ground-truth boxes, already clipped to the image and with degenerate boxes dropped.</param>
/// <param name="InMemoryImage">Renders the pixels without touching the disk; null for file-backed samples.</param>
public sealed record DetectionSample(
    long ImageId,
    string ImagePath,
    string FileName,
    int Width,
    int Height,
    IReadOnlyList<BoxAnnotation> Boxes,
    Func<ImageBuffer>? InMemoryImage = null)
{
    /// <summary>Images declaring more pixels than this are refused when decoded (set by the reader from <see cref="DataReadOptions.MaxImagePixels"/>).</summary>
    public long MaxImagePixels { get; init; } = ImageDecoder.DefaultMaxPixels;

    /// <summary>Decodes (or renders) the image as RGBA8888 with EXIF orientation applied.</summary>
    public ImageBuffer LoadImage() => InMemoryImage is { } render ? render() : ImageDecoder.Decode(ImagePath, MaxImagePixels);

    /// <summary>
    /// Decodes the image reduced at decode time where the codec can, to no less than
    /// <paramref name="minimumSize"/>(full width, height); <paramref name="fullSize"/> is the size before reduction.
    /// </summary>
    public ImageBuffer LoadImage(Func<int, int, (int Width, int Height)>? minimumSize, out (int Width, int Height) fullSize)
    {
        if (InMemoryImage is { } render)
        {
            var image = render();
            fullSize = (image.Width, image.Height);
            return image;
        }
        return ImageDecoder.Decode(ImagePath, MaxImagePixels, minimumSize, out fullSize);
    }
}
