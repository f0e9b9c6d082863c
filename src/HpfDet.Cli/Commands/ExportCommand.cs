using System.CommandLine;
using HpfDet.Export;

namespace HpfDet.Cli.Commands;

/// <summary>hpfdet export: a checkpoint as an ONNX model for ONNX Runtime (HpfDet.Inference).</summary>
public static class ExportCommand
{
    public static Command Create()
    {
        var weights = new Option<string>("--weights") { Description = "Checkpoint written by 'hpfdet train'.", Required = true };
        var output = new Option<string>("--out") { Description = "The ONNX file to write (model.onnx).", Required = true };
        var opset = new Option<int>("--opset") { Description = $"ONNX opset, {OnnxExporter.MinOpset} to {OnnxExporter.MaxOpset}.", DefaultValueFactory = _ => OnnxExporter.DefaultOpset };
        var imageSize = new Option<int[]?>("--image-size") { Description = "A fixed input size H W (priors become constants); images are resized to fit and padded to it.", Arity = new ArgumentArity(2, 2), AllowMultipleArgumentsPerToken = true };
        var dynamic = new Option<bool>("--dynamic") { Description = "Dynamic input height and width (the default): each image is resized and padded as in training." };
        var cmd = new Command("export", "Export a trained detector to ONNX: image in (float32 RGB 0-255, NCHW; normalisation inside), decoded boxes, class scores and score factor out, BatchNorm folded, metadata for HpfDet.Inference.");
        foreach (var o in new Option[] { weights, output, opset, imageSize, dynamic }) cmd.Options.Add(o);
        cmd.Validators.Add(r =>
        {
            if (r.GetResult(imageSize) is not null && r.GetValue(dynamic))
                r.AddError("Give either --image-size H W (a fixed input) or --dynamic, not both.");
        });
        cmd.SetAction(parse =>
        {
            var size = parse.GetValue(imageSize) is { Length: 2 } hw ? (hw[0], hw[1]) : ((int, int)?)null;
            var path = Run(parse.GetValue(weights)!, parse.GetValue(output)!, new OnnxExportOptions(parse.GetValue(opset), size));
            Console.WriteLine($"wrote {path} ({new FileInfo(path).Length / 1024.0 / 1024.0:F1} MB, opset {parse.GetValue(opset)}, input {(size is { } s ? $"{s.Item1}x{s.Item2}" : "dynamic")})");
            return ExitCodes.Success;
        });
        return cmd;
    }

    /// <summary>Exports the checkpoint's detector with its training normalisation, test resize and post-processing; returns the full path written.</summary>
    public static string Run(string weights, string outPath, OnnxExportOptions options)
    {
        var (model, config, classNames) = CheckpointModel.Load(weights, prepareForInference: false);
        using (model)
        {
            var inference = model.Inference;
            var metadata = new OnnxExportMetadata(classNames, config.InputNormalization(), config.Train.Scale, config.Train.MaxSize,
                inference.ScoreThreshold, inference.PreNmsTopK, inference.NmsIoU, inference.MaxDetections,
                RunConfigJson: config.ToJson().ToJsonString());
            OnnxExporter.Save(model, outPath, metadata, options);
        }
        return Path.GetFullPath(outPath);
    }
}
