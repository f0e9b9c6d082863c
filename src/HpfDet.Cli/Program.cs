using HpfDet.Cli;

return CliRunner.Run(CliRunner.CreateRoot(), args);
