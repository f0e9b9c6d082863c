namespace HpfDet.Data;

/// <summary>How much of each image file a reader opens to check it.</summary>
public enum ImageCheck
{
    /// <summary>Only check that the file exists.</summary>
    Exists,
    /// <summary>Read the header: catches non-images and wrong sizes, not truncation (default; cheap).</summary>
    Header,
    /// <summary>Decode every image completely: also catches truncated files (slow on large datasets).</summary>
    FullDecode,
}

/// <summary>Options shared by the dataset readers.</summary>
/// <param name="Strict">Throw <see cref="HpfDetException"/> on the first problem instead of skipping with a count.</param>
/// <param name="ImageCheck">How far image files are opened while reading.</param>
/// <param name="ClassNames">Fixed class list (VOC): names outside it are reported as unknown. Null: the dataset's
/// labels.txt or classes.txt when it has one, else every name found (sorted).</param>
/// <param name="MaxImagePixels">Images declaring more pixels are refused (decompression-bomb guard; Pillow's default).</param>
/// <param name="AllowSymlinksOutside">Follow symbolic links that lead out of the dataset folder (refused by default).</param>
public sealed record DataReadOptions(bool Strict = false, ImageCheck ImageCheck = ImageCheck.Header, IReadOnlyList<string>? ClassNames = null,
    long MaxImagePixels = ImageDecoder.DefaultMaxPixels, bool AllowSymlinksOutside = false)
{
    public static DataReadOptions Default { get; } = new();
}
