namespace HpfDet.Data;

/// <summary>
/// One ground-truth box: xyxy in pixels of the (EXIF-oriented) original image, a contiguous class
/// index in [0, C), and the COCO iscrowd / VOC difficult flags (both mean "do not count as a miss").
/// </summary>
public readonly record struct BoxAnnotation(float X1, float Y1, float X2, float Y2, int Label, bool IsCrowd = false, bool Difficult = false)
{
    public float Width => X2 - X1;
    public float Height => Y2 - Y1;
    public float Area => Width * Height;
}
