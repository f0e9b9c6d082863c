namespace HpfDet.Data;

/// <summary>Checks shared by all readers: image file present and readable, boxes clipped or dropped.</summary>
internal static class SampleValidator
{
    /// <summary>
    /// Checks the image file as far as <paramref name="check"/> says; returns its displayed size (or
    /// <paramref name="declared"/> when only existence is checked) or null after recording why it is unusable.
    /// </summary>
    public static (int Width, int Height)? CheckImage(string imagePath, string reportedFile, ImageCheck check,
        (int Width, int Height)? declared, DataIssues issues)
    {
        if (!File.Exists(imagePath))
        {
            issues.Add(DataIssueKind.MissingImage, reportedFile, $"image file '{imagePath}' not found");
            return null;
        }
        if (check == ImageCheck.Exists)
        {
            if (declared is { Width: > 0, Height: > 0 }) return declared;
            check = ImageCheck.Header; // the size must come from somewhere
        }
        (int Width, int Height)? size;
        if (check == ImageCheck.FullDecode)
        {
            try
            {
                var image = ImageDecoder.Decode(imagePath);
                size = (image.Width, image.Height);
            }
            catch (HpfDetException e)
            {
                issues.Add(DataIssueKind.CorruptImage, reportedFile, e.Message);
                return null;
            }
        }
        else
        {
            size = ImageDecoder.ReadSize(imagePath);
            if (size == null)
            {
                issues.Add(DataIssueKind.CorruptImage, reportedFile, $"image file '{imagePath}' is not a decodable image");
                return null;
            }
        }
        if (declared is { } d && d != size.Value)
            issues.Add(DataIssueKind.SizeMismatch, reportedFile,
                $"annotation says {d.Width}x{d.Height} but image '{imagePath}' is {size.Value.Width}x{size.Value.Height}; the image's size is used");
        return size;
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
