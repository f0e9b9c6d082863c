using HpfDet;
using HpfDet.Cli;

// Keep libtorch's large buffers mapped between steps (see NativeMemory); HPFDET_DEFAULT_MALLOC=1 opts out.
if (Environment.GetEnvironmentVariable("HPFDET_DEFAULT_MALLOC") != "1") NativeMemory.TuneAllocatorForTensors();
return CliRunner.Run(CliRunner.CreateRoot(), args);
