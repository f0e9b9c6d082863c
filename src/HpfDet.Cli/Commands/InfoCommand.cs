using System.CommandLine;
using HpfDet.Data;

namespace HpfDet.Cli.Commands;

public static class InfoCommand
{
    public static Command Create()
    {
        var data = new Option<string>("--data") { Description = "Dataset: VOC folder, COCO annotation JSON, YOLO data.yaml (or its folder), or 'synthetic'.", Required = true };
        var format = new Option<string?>("--format") { Description = "voc | coco | yolo (not needed with --data synthetic)." };
        format.AcceptOnlyFromAmong("voc", "coco", "yolo");
        var split = new Option<string?>("--split") { Description = "Split name: VOC ImageSets/Main/<split>.txt (default: all annotations); YOLO train|val|test (default: train)." };
        var images = new Option<string?>("--images") { Description = "COCO image folder (default: the folder of the JSON)." };
        var json = new Option<string?>("--json") { Description = "Also write the statistics as JSON to this file." };
        var strict = new Option<bool>("--strict") { Description = "Fail on the first data problem instead of skipping it with a count." };
        var cmd = new Command("info", "Dataset statistics: images, boxes per class, box sizes (COCO small/medium/large), dropped boxes with reasons.");
        foreach (var o in new Option[] { data, format, split, images, json, strict }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            var options = new DataReadOptions(Strict: parse.GetValue(strict));
            var dataset = Load(parse.GetValue(data)!, parse.GetValue(format), parse.GetValue(split), parse.GetValue(images), options);
            var stats = DatasetStatistics.Compute(dataset);
            Console.WriteLine(stats.ToText());
            if (parse.GetValue(json) is { } jsonPath)
            {
                var dir = Path.GetDirectoryName(Path.GetFullPath(jsonPath));
                if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
                File.WriteAllText(jsonPath, stats.ToJson());
                Console.WriteLine($"wrote {jsonPath}");
            }
            return ExitCodes.Success;
        });
        return cmd;
    }

    static DetectionDataset Load(string data, string? format, string? split, string? images, DataReadOptions options)
    {
        if (data == "synthetic") return SyntheticShapesDataset.Create();
        return format switch
        {
            "voc" => VocDatasetReader.Read(data, split, options),
            "yolo" => YoloDatasetReader.Read(data, split ?? "train", options),
            "coco" => CocoDatasetReader.Read(data, images, options, split),
            null => throw new UserFacingException("--format is required (voc, coco or yolo) unless --data is 'synthetic'.", ExitCodes.UsageError),
            _ => throw new UserFacingException($"Unknown --format '{format}': use voc, coco or yolo.", ExitCodes.UsageError),
        };
    }
}
