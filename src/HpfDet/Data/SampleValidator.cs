namespace HpfDet.Data;

/// <summary>Checks shared by all readers: image file present and readable, boxes clipped or dropped.</summary>
internal static class SampleValidator
{
    /// <summary>
    /// Checks the image file as far as <see cref="DataReadOptions.ImageCheck"/> (or <paramref name="check"/>)
    /// says: inside <paramref name="datasetRoot"/> once links are followed, a file, within the pixel
    /// limit, decodable. Returns its displayed size (or <paramref name="declared"/> when only existence
    /// is checked) or null after recording why it is unusable.
    /// </summary>
    public static (int Width, int Height)? CheckImage(string imagePath, string reportedFile, DataReadOptions options,
        (int Width, int Height)? declared, DataIssues issues, string datasetRoot, ImageCheck? check = null)
    {
        var how = check ?? options.ImageCheck;
        if (!File.Exists(imagePath))
        {
            var what = Directory.Exists(imagePath) ? "is a folder, not an image file" : "not found";
            issues.Add(DataIssueKind.MissingImage, reportedFile, $"image file '{imagePath}' {what}");
            return null;
        }
        if (!CheckLink(datasetRoot, imagePath, reportedFile, "image", options, issues)) return null;
        if (how == ImageCheck.Exists)
        {
            if (declared is { Width: > 0, Height: > 0 } && (long)declared.Value.Width * declared.Value.Height <= options.MaxImagePixels) return declared;
            how = ImageCheck.Header; // the size must come from somewhere
        }
        var size = ImageDecoder.ReadSize(imagePath);
        if (size == null)
        {
            issues.Add(DataIssueKind.CorruptImage, reportedFile, $"image file '{imagePath}' is not a decodable image");
            return null;
        }
        try { ImageDecoder.CheckPixelCount(size.Value.Width, size.Value.Height, options.MaxImagePixels, imagePath); }
        catch (HpfDetException e)
        {
            issues.Add(DataIssueKind.ImageTooLarge, reportedFile, e.Message);
            return null;
        }
        if (how == ImageCheck.FullDecode)
        {
            try
            {
                var image = ImageDecoder.Decode(imagePath, options.MaxImagePixels);
                size = (image.Width, image.Height);
            }
            catch (HpfDetException e)
            {
                issues.Add(DataIssueKind.CorruptImage, reportedFile, e.Message);
                return null;
            }
        }
        if (declared is { } d && d != size.Value)
            issues.Add(DataIssueKind.SizeMismatch, reportedFile,
                $"annotation says {d.Width}x{d.Height} but image '{imagePath}' is {size.Value.Width}x{size.Value.Height}; the image's size is used");
        return size;
    }

    /// <summary>
    /// False (after recording a <see cref="DataIssueKind.PathEscape"/>) when <paramref name="path"/> is
    /// reached through a symbolic link leading out of <paramref name="datasetRoot"/> and the options do not allow that.
    /// </summary>
    public static bool CheckLink(string datasetRoot, string path, string reportedFile, string what, DataReadOptions options, DataIssues issues)
    {
        if (options.AllowSymlinksOutside || !DatasetPaths.LeavesRoot(datasetRoot, path)) return true;
        issues.Add(DataIssueKind.PathEscape, reportedFile,
            $"{what} '{path}' is a symbolic link leading out of the dataset folder '{datasetRoot}' (or a link loop); refused. "
            + "Copy the file into the dataset, or allow links out of it (DataReadOptions.AllowSymlinksOutside).");
        return false;
    }

    /// <summary>
    /// Clips the box to the image (recording a clip) and returns it, or returns null after recording a
    /// drop when it has no area left. NaN coordinates count as degenerate.
    /// </summary>
    public static BoxAnnotation? ClipOrDrop(BoxAnnotation box, int width, int height, string file, DataIssues issues, int? line = null)
    {
        var clipped = box with
        {
            X1 = Math.Clamp(box.X1, 0f, width),
            Y1 = Math.Clamp(box.Y1, 0f, height),
            X2 = Math.Clamp(box.X2, 0f, width),
            Y2 = Math.Clamp(box.Y2, 0f, height),
        };
        var original = $"[{box.X1:0.##}, {box.Y1:0.##}, {box.X2:0.##}, {box.Y2:0.##}]";
        if (!(clipped.X2 > clipped.X1) || !(clipped.Y2 > clipped.Y1))
        {
            var why = box.X2 > box.X1 && box.Y2 > box.Y1 ? "lies outside the image" : "has zero or negative width or height";
            issues.Add(DataIssueKind.DegenerateBox, file, $"box {original} {why}; dropped", line);
            return null;
        }
        if (clipped != box)
            issues.Add(DataIssueKind.BoxClipped, file, $"box {original} reaches outside the {width}x{height} image; clipped", line);
        return clipped;
    }
}
