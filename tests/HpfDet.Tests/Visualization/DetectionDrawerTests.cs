using HpfDet.Data;
using HpfDet.Evaluation;
using HpfDet.Models;
using HpfDet.Tests.Infrastructure;
using HpfDet.Visualization;
using TorchSharp;

namespace HpfDet.Tests.Visualization;

public class DetectionDrawerTests
{
    static ImageBuffer Black(int w, int h)
    {
        var image = new ImageBuffer(w, h);
        for (var i = 3; i < image.Rgba.Length; i += 4) image.Rgba[i] = 255;
        return image;
    }

    [Fact]
    public void Draws_the_box_edge_and_leaves_far_pixels_alone()
    {
        using var dir = TestPaths.NewTempDir("hpfdet-viz");
        var input = Path.Combine(dir, "blank.png");
        File.WriteAllBytes(input, ImageDecoder.EncodePng(Black(64, 64)));
        var output = Path.Combine(dir, "drawn.png");
        DetectionDrawer.Draw(input, [new DrawnBox(10, 30, 50, 60, 0, 0.87f)], ["cell"], output);

        var drawn = ImageDecoder.Decode(output);
        Assert.Equal((64, 64), (drawn.Width, drawn.Height));
        // Left edge at x = 10, at least 2 px wide: class 0 is red.
        var (r, g, b) = (drawn[10, 45, 0], drawn[10, 45, 1], drawn[10, 45, 2]);
        Assert.True(r > 150 && r > 2 * g && r > 2 * b, $"edge pixel ({r}, {g}, {b}) is not red");
        // Inside the box and far outside it: untouched.
        Assert.Equal((0, 0, 0), (drawn[30, 45, 0], drawn[30, 45, 1], drawn[30, 45, 2]));
        Assert.Equal((0, 0, 0), (drawn[2, 62, 0], drawn[2, 62, 1], drawn[2, 62, 2]));
    }

    [Fact]
    public void Label_text_is_rendered_on_its_background()
    {
        // Box low enough for the label to sit above it, in rows 0..29.
        var drawn = DetectionDrawer.Render(Black(200, 100), [new DrawnBox(20, 40, 180, 95, 0, 0.87f)], ["cell"]);
        var (cr, cg, cb) = DetectionDrawer.ClassColor(0);
        int background = 0, light = 0;
        for (var y = 0; y < 40; y++)
            for (var x = 0; x < 200; x++)
            {
                var (r, g, b) = (drawn[x, y, 0], drawn[x, y, 1], drawn[x, y, 2]);
                if ((r, g, b) == (cr, cg, cb)) background++;
                if (r > 200 && g > 200 && b > 200) light++;
            }
        Assert.True(background > 100, $"label background: {background} pixels");
        // White glyphs on the red background: absent when no font has glyphs.
        Assert.True(light > 10, $"label text: {light} light pixels");
    }

    [Fact]
    public void Ground_truth_and_detections_are_both_drawn()
    {
        using var dir = TestPaths.NewTempDir("hpfdet-viz");
        var input = Path.Combine(dir, "blank.png");
        File.WriteAllBytes(input, ImageDecoder.EncodePng(Black(128, 128)));
        var output = Path.Combine(dir, "both.png");
        DetectionDrawer.DrawGroundTruthAndDetections(input, [new DrawnBox(10, 30, 60, 80, 1, float.NaN)],
            [new DrawnBox(70, 30, 120, 80, 3, 0.5f)], ["a", "b", "c", "d"], output);
        var drawn = ImageDecoder.Decode(output);
        var (gr, gg, gb) = DetectionDrawer.ClassColor(1);
        var (dr, dg, db) = DetectionDrawer.ClassColor(3);
        // Solid left edge of the detection; the ground truth's first dash starts at its top-left corner, going right.
        Assert.Equal((dr, dg, db), (drawn[70, 55, 0], drawn[70, 55, 1], drawn[70, 55, 2]));
        Assert.Equal((gr, gg, gb), (drawn[13, 30, 0], drawn[13, 30, 1], drawn[13, 30, 2]));
    }

    [Fact]
    public void FromDetections_copies_and_filters_by_score()
    {
        using var detections = new Detections(
            torch.tensor(new float[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 }).reshape(3, 4),
            torch.tensor(new float[] { 0.9f, 0.5f, 0.1f }),
            torch.tensor(new long[] { 2, 0, 1 }));
        var boxes = DetectionDrawer.FromDetections(detections, 0.3);
        Assert.Equal([new DrawnBox(1, 2, 3, 4, 2, 0.9f), new DrawnBox(5, 6, 7, 8, 0, 0.5f)], boxes);
        // The caller's tensors stay usable.
        Assert.Equal(3, detections.Count);
        Assert.Equal(12f, detections.Boxes[2, 3].item<float>());
    }

    [Fact]
    public void FromDetections_of_an_empty_image_is_empty()
    {
        using var detections = new Detections(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype: torch.int64));
        Assert.Empty(DetectionDrawer.FromDetections(detections, 0));
    }

    [Fact]
    public void FromCocoDetections_converts_xywh_maps_categories_groups_by_image_and_filters()
    {
        // Category ids 7 and 3 map to class indices 0 and 1; xywh (10, 20, 30, 40) is x2 = 40, y2 = 60 by hand.
        var detections = new CocoDetections([
            new CocoDetection(5, 7, 10, 20, 30, 40, 0.9),
            new CocoDetection(5, 3, 0, 0, 1, 2, 0.2),
            new CocoDetection(9, 3, 1, 1, 2, 2, 0.5)]);
        var byImage = DetectionDrawer.FromCocoDetections(detections, id => id == 7 ? 0 : 1, minScore: 0.3);
        Assert.Equal([new DrawnBox(10, 20, 40, 60, 0, 0.9f)], byImage[5]);
        Assert.Equal([new DrawnBox(1, 1, 3, 3, 1, 0.5f)], byImage[9]);
        Assert.Equal(2, byImage.Count);
    }
}
