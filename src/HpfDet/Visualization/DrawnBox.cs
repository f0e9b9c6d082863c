namespace HpfDet.Visualization;

/// <summary>One box to draw, xyxy in the pixels of the image it is drawn on.</summary>
/// <param name="Label">Class index in [0, C).</param>
/// <param name="Score">Confidence shown beside the class name; NaN shows the name alone (ground truth).</param>
public readonly record struct DrawnBox(float X1, float Y1, float X2, float Y2, int Label, float Score);
