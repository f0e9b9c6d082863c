using HpfDet.Data;
using HpfDet.Data.Transforms;

namespace HpfDet.Tests.Data;

public class TransformTests
{
    static ImageBuffer Gradient(int w, int h)
    {
        var image = new ImageBuffer(w, h);
        for (var y = 0; y < h; y++)
            for (var x = 0; x < w; x++)
            {
                var p = (y * w + x) * 4;
                image.Rgba[p] = (byte)x; image.Rgba[p + 1] = (byte)y; image.Rgba[p + 2] = (byte)(x + y); image.Rgba[p + 3] = 255;
            }
        return image;
    }

    static TransformSample Sample(int w, int h, params float[] boxes) =>
        new(Gradient(w, h), boxes, new long[boxes.Length / 4], new bool[boxes.Length / 4]);

    [Fact]
    public void Keep_ratio_resize_matches_hand_computed_size_and_boxes()
    {
        // 640x480 to (800, 1333): factor min(800/480, 1333/640) = 1.6667 → 1067x800.
        var s = Sample(640, 480, 453, 81, 555, 182);
        new KeepRatioResize(new ResizeScale(800, 1333)).Apply(s, new Random(0));
        Assert.Equal((1067, 800), (s.Image.Width, s.Image.Height));
        Assert.Equal(453 * 1067 / 640.0, s.Boxes[0], 3);
        Assert.Equal(81 * 800 / 480.0, s.Boxes[1], 3);
        Assert.Equal(555 * 1067 / 640.0, s.Boxes[2], 3);
        Assert.Equal(182 * 800 / 480.0, s.Boxes[3], 3);

        // A long image is limited by the long side: 1000x100 to (800, 1333) → 1333x133.
        var wide = Sample(1000, 100);
        new KeepRatioResize(new ResizeScale(800, 1333)).Apply(wide, new Random(0));
        Assert.Equal((1333, 133), (wide.Image.Width, wide.Image.Height));
    }

    [Fact]
    public void Horizontal_flip_mirrors_pixels_and_boxes()
    {
        var s = Sample(100, 10, 10, 2, 30, 8);
        new RandomHorizontalFlip(1.0).Apply(s, new Random(0));
        Assert.Equal([70f, 2f, 90f, 8f], s.Boxes);
        Assert.Equal(99, s.Image[0, 3, 0]);   // red = original x, so x' = 0 shows x = 99
        Assert.Equal(0, s.Image[99, 3, 0]);
        Assert.True(s.ToMeta().Flipped);
    }

    [Fact]
    public void Shift_moves_pixels_and_boxes_clips_and_drops_what_leaves_the_image()
    {
        // 10x8 gradient (red = x, green = y, blue = x + y); shift by (+3, -2), so new (x, y) shows old (x - 3, y + 2).
        var s = new TransformSample(Gradient(10, 8), [1, 1, 4, 5, 8, 0, 10, 2, 2, 6, 9, 8], [0, 1, 2], [false, false, true]);
        Assert.True(RandomShift.Shift(s, 3, -2));
        // [1,1,4,5] → [4,-1,7,3] → clipped [4,0,7,3]; [8,0,10,2] → [11,-2,13,0] → [10,0,10,0], no width: dropped;
        // [2,6,9,8] → [5,4,12,6] → [5,4,10,6].
        Assert.Equal([4f, 0f, 7f, 3f, 5f, 4f, 10f, 6f], s.Boxes);
        Assert.Equal([0L, 2L], s.Labels);
        Assert.Equal([false, true], s.Ignored);
        Assert.Equal((10, 8), (s.Image.Width, s.Image.Height));
        Assert.Equal((2, 3, 5), (s.Image[5, 1, 0], s.Image[5, 1, 1], s.Image[5, 1, 2]));   // old (2, 3)
        Assert.Equal((6, 7, 13), (s.Image[9, 5, 0], s.Image[9, 5, 1], s.Image[9, 5, 2]));  // old (6, 7)
        Assert.Equal((0, 0, 0, 255), (s.Image[2, 3, 0], s.Image[2, 3, 1], s.Image[2, 3, 2], s.Image.Rgba[(3 * 10 + 2) * 4 + 3]));   // x < 3: uncovered
        Assert.Equal((0, 0, 0), (s.Image[8, 6, 0], s.Image[8, 6, 1], s.Image[8, 6, 2]));    // old y 8: below the image
        // The affine map records the shift: the kept third box maps back to its original frame, clipped at x 10 - 3.
        var back = s.Boxes[4..8];
        s.ToMeta().MapToOriginal(back);
        Assert.Equal([2f, 6f, 7f, 8f], back);
    }

    [Fact]
    public void Shift_that_leaves_no_box_to_learn_from_keeps_the_sample()
    {
        // The only kept box would be an ignored one: the reference leaves such an image as it was.
        var image = Gradient(10, 8);
        var s = new TransformSample(image, [0, 0, 3, 3, 5, 5, 9, 8], [1, 2], [false, true]);
        Assert.False(RandomShift.Shift(s, -4, 0));
        Assert.Same(image, s.Image);
        Assert.Equal([0f, 0f, 3f, 3f, 5f, 5f, 9f, 8f], s.Boxes);
        Assert.Equal(0, s.XOffset);
        // Without boxes there is nothing to learn from either.
        var empty = new TransformSample(Gradient(10, 8), [], [], []);
        Assert.False(RandomShift.Shift(empty, 1, 1));
    }

    [Fact]
    public void Random_shift_stays_within_its_largest_shift_and_shifts_about_half_the_images()
    {
        var rng = new Random(7);
        var transform = new RandomShift(maxShift: 4, probability: 0.5);
        int shifted = 0;
        for (var i = 0; i < 400; i++)
        {
            var s = new TransformSample(Gradient(40, 30), [10, 10, 30, 20], [0], [false]);
            transform.Apply(s, rng);
            Assert.InRange(s.XOffset, -4, 4);
            Assert.InRange(s.YOffset, -4, 4);
            Assert.Equal([10 + (float)s.XOffset, 10 + (float)s.YOffset, 30 + (float)s.XOffset, 20 + (float)s.YOffset], s.Boxes);
            if (s.XOffset != 0 || s.YOffset != 0) shifted++;
        }
        // Half of 400 drawn, less the 1-in-81 zero shifts: binomial sd 10, so 150–250 is five sd either way.
        Assert.InRange(shifted, 150, 250);
        // The configured pipeline carries the step only when asked for.
        Assert.DoesNotContain(TransformPipeline.ForTraining([new ResizeScale(320, 427)]).Transforms, t => t is RandomShift);
        Assert.Contains(TransformPipeline.ForTraining([new ResizeScale(320, 427)], randomShift: 32).Transforms, t => t is RandomShift { MaxShift: 32 });
        var config = new HpfDet.Training.RunConfig();
        Assert.DoesNotContain(config.TrainTransforms().Transforms, t => t is RandomShift);
        config.Set("train.random_shift", "32");
        Assert.Contains(config.TrainTransforms().Transforms, t => t is RandomShift { MaxShift: 32, Probability: 0.5 });
    }

    [Fact]
    public void Pad_rounds_up_to_multiple_of_32_without_moving_boxes()
    {
        var s = Sample(1067, 800, 1, 2, 3, 4);
        new PadToMultiple(32).Apply(s, new Random(0));
        Assert.Equal((1088, 800), (s.PaddedWidth, s.PaddedHeight));
        Assert.Equal([1f, 2f, 3f, 4f], s.Boxes);
    }

    [Theory]
    [InlineData(800, 1333, true)]
    [InlineData(512, 853, true)]
    [InlineData(333, 500, false)]
    public void Forward_then_inverse_gives_the_original_boxes_within_1e4_px(int shortSide, int longSide, bool flip)
    {
        var rng = new Random(42);
        var boxes = new float[40];
        for (var i = 0; i < boxes.Length; i += 4)
        {
            float x1 = (float)rng.NextDouble() * 600, y1 = (float)rng.NextDouble() * 450;
            boxes[i] = x1; boxes[i + 1] = y1;
            boxes[i + 2] = x1 + 1 + (float)rng.NextDouble() * (639 - x1); boxes[i + 3] = y1 + 1 + (float)rng.NextDouble() * (479 - y1);
        }
        var original = (float[])boxes.Clone();
        var s = Sample(640, 480, boxes);
        var pipeline = new TransformPipeline(new KeepRatioResize(new ResizeScale(shortSide, longSide)),
            new RandomHorizontalFlip(flip ? 1.0 : 0.0), new PhotometricDistortion(), new PadToMultiple(32));
        pipeline.Apply(s, new Random(1));
        Assert.NotEqual(original, s.Boxes);
        var back = (float[])s.Boxes.Clone();
        s.ToMeta().MapToOriginal(back);
        for (var i = 0; i < back.Length; i++) Assert.True(Math.Abs(back[i] - original[i]) < 1e-4, $"value {i}: {back[i]} vs {original[i]}");
    }

    [Fact]
    public void Flip_before_resize_also_inverts_exactly()
    {
        var s = Sample(640, 480, 100, 50, 300, 200);
        new TransformPipeline(new RandomHorizontalFlip(1.0), new KeepRatioResize(new ResizeScale(512, 853))).Apply(s, new Random(0));
        var back = (float[])s.Boxes.Clone();
        s.ToMeta().MapToOriginal(back);
        Assert.Equal([100f, 50f, 300f, 200f], back.Select(v => MathF.Round(v, 4)));
    }

    [Fact]
    public void Multi_scale_resize_uses_every_scale()
    {
        var scales = new[] { new ResizeScale(480, 1333), new ResizeScale(640, 1333), new ResizeScale(800, 1333) };
        var seen = new HashSet<int>();
        var rng = new Random(3);
        for (var i = 0; i < 30; i++)
        {
            var s = Sample(64, 48);
            new RandomChoiceResize(scales).Apply(s, rng);
            seen.Add(s.Image.Height);
        }
        Assert.Equal([480, 640, 800], seen.Order());
    }

    [Fact]
    public void Photometric_distortion_keeps_boxes_and_grey_stays_near_grey()
    {
        var s = new TransformSample(new ImageBuffer(8, 8, Enumerable.Repeat((byte)128, 256).ToArray()), [1, 1, 5, 5], [0], [false]);
        var changed = false;
        for (var seed = 0; seed < 20; seed++)
        {
            var t = new TransformSample(new ImageBuffer(8, 8, Enumerable.Repeat((byte)128, 256).ToArray()), [1, 1, 5, 5], [0], [false]);
            new PhotometricDistortion().Apply(t, new Random(seed));
            Assert.Equal([1f, 1f, 5f, 5f], t.Boxes);
            // Brightness, contrast, saturation and hue all keep a grey pixel grey (within rounding).
            Assert.InRange(Math.Abs(t.Image[3, 3, 0] - t.Image[3, 3, 2]), 0, 2);
            changed |= t.Image[3, 3, 0] != 128;
        }
        Assert.True(changed);
        // No change at all when every range is the identity.
        new PhotometricDistortion(new PhotometricDistortionOptions(0, (1, 1), (1, 1), 0)).Apply(s, new Random(0));
        Assert.All(s.Image.Rgba, v => Assert.Equal(128, v));
    }

    [Fact]
    public void Caffe_bgr_normalisation_reorders_channels_and_subtracts_means()
    {
        var image = new ImageBuffer(2, 1, [10, 20, 30, 255, 0, 0, 0, 255]);
        var chw = ImageNormalization.CaffeBgr.ToChw(image);
        // Channel 0 = B - 103.06, channel 1 = G - 115.90, channel 2 = R - 123.15.
        Assert.Equal(30 - 103.06f, chw[0], 3);
        Assert.Equal(20 - 115.90f, chw[2], 3);
        Assert.Equal(10 - 123.15f, chw[4], 3);
        var rgb = ImageNormalization.ImageNetRgb.ToChw(image);
        Assert.Equal((10 / 255f - 0.485f) / 0.229f, rgb[0], 4);
        Assert.Equal((30 / 255f - 0.406f) / 0.225f, rgb[4], 4);
    }
}
