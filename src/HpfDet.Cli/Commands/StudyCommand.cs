using System.CommandLine;
using HpfDet.Visualization;

namespace HpfDet.Cli.Commands;

/// <summary>hpfdet study: several finished (or partly finished) comparison folders side by side.</summary>
public static class StudyCommand
{
    public static Command Create()
    {
        var cells = new Option<string[]>("--cell")
        {
            Description = "NAME=COMPARE_DIR: a folder written by 'hpfdet compare --out', named e.g. by its schedule (1x=results/schedule-vehicles/1x); repeatable, panels follow this order.",
            Required = true,
            AllowMultipleArgumentsPerToken = false,
        };
        var pairs = new Option<string[]>("--pair")
        {
            Description = "LOSS@CELL-LOSS@CELL: the first minus the second, runs paired by seed across the two cells, e.g. --pair \"hpf@1.5x-fl@1x\" (repeatable).",
            AllowMultipleArgumentsPerToken = false,
        };
        var output = new Option<string>("--out") { Description = "Folder for study.md and the charts (created if missing).", Required = true };
        var title = new Option<string?>("--title") { Description = "Title of study.md (default: 'Study: ' and the cell names)." };
        var cmd = new Command("study", "Read several comparison folders (cells, e.g. one per schedule) and write study.md with AP per cell and loss, " +
            "paired differences within and across cells, and the charts ap_by_epoch_panels.png and gamma_by_progress.png. Only runs that completed count.");
        foreach (var o in new Option[] { cells, pairs, output, title }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            string outDir = parse.GetValue(output)!;
            TrainPipeline.RequireFolder(outDir, "--out");
            var cellList = parse.GetValue(cells)!.Select(StudyReport.ParseCell).ToList();
            var report = StudyReport.Write(cellList, parse.GetValue(pairs) ?? [], outDir, parse.GetValue(title));
            Console.WriteLine(File.ReadAllText(report));
            Console.WriteLine($"report: {Path.GetFullPath(report)}");
            return ExitCodes.Success;
        });
        return cmd;
    }
}
