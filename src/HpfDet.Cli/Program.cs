using System.CommandLine;
using HpfDet.Cli;
using HpfDet.Cli.Commands;

var root = new RootCommand("hpfdet: train, evaluate and run one-stage object detectors with Hierarchical Progressive Focus (HPF).");
root.Subcommands.Add(DemoCommand.Create());
root.Subcommands.Add(TrainCommand.Create());
root.Subcommands.Add(DetectCommand.Create());
root.Subcommands.Add(CompareCommand.Create());
root.Subcommands.Add(VersionCommand.Create());
root.Subcommands.Add(InfoCommand.Create());
root.Subcommands.Add(EvalCommand.Create());
return CliRunner.Run(root, args);
