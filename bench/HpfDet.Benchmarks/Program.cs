using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using HpfDet.Benchmarks;

// Write the COCO evaluation benchmark problem: dotnet run -c Release --project bench/HpfDet.Benchmarks -- coco-generate DIR
if (args is ["coco-generate", var dir])
{
    var (gt, dt) = CocoProblemGenerator.Write(dir);
    Console.WriteLine($"Wrote {dir}/gt.json ({gt} boxes) and {dir}/dt.json ({dt} detections).");
    return;
}

// Quick console measurements of the data path: dotnet run -c Release --project bench/HpfDet.Benchmarks -- data-loading | synthetic
if (args.Length > 0 && args[0] == "data-loading")
{
    DataLoadingThroughput.Run(Console.Out);
    return;
}
if (args.Length > 0 && args[0] == "synthetic")
{
    DataLoadingThroughput.RunSynthetic(Console.Out);
    return;
}

// Run all BenchmarkDotNet benchmarks: dotnet run -c Release --project bench/HpfDet.Benchmarks -- --filter '*'
// Interleaved A/B ratio of HPF vs focal loss (robust on a busy machine):
//   dotnet run -c Release --project bench/HpfDet.Benchmarks -- loss-ratio [rounds]
if (args.Length > 0 && args[0] == "atss-step")
{
    AtssStepBenchmark.Run(args.Length > 1 ? double.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 157, steps: 5);
    return;
}
// libtorch vs ONNX Runtime inference per image (docs/benchmarks.md): -- onnx-vs-torch [rounds];
// peak memory of an ONNX-only process: -- onnx-only MODEL.onnx [images]
if (args.Length > 0 && args[0] == "onnx-vs-torch")
{
    OnnxInferenceBenchmark.Run(args.Length > 1 ? int.Parse(args[1]) : 15);
    return;
}
if (args is ["onnx-only", var onnxModel, ..])
{
    OnnxInferenceBenchmark.OnnxOnly(onnxModel, args.Length > 2 ? int.Parse(args[2]) : 20);
    return;
}
// One detector kept warm for bench/peer/peer_bench.py (see PeerWorker): -- peer-worker MODEL W H BATCH CLASSES CHANNELS
if (args is ["peer-worker", var peerModel, var pw, var ph, var pb, var pc, var pch])
{
    PeerWorker.Run(peerModel, int.Parse(pw), int.Parse(ph), int.Parse(pb), int.Parse(pc), int.Parse(pch));
    return;
}
// One speed change at a time, A/B in one process: -- layout-ab CHANGE MODEL W H BATCH ROUNDS (see LayoutAb)
if (args is ["layout-ab", var change, var abModel, var aw, var ah, var ab, var ar])
{
    LayoutAb.Run(change, abModel, int.Parse(aw), int.Parse(ah), int.Parse(ab), int.Parse(ar));
    return;
}
// Step time and peak memory against input size and batch, fp32 and bf16, chart and CSV: -- step-scaling OUT_DIR [MODEL] [STEPS]
if (args is ["step-scaling", var scalingOut, ..])
{
    StepScaling.Run(scalingOut, args.Length > 2 ? args[2] : "atss-r18", args.Length > 3 ? int.Parse(args[3]) : 3);
    return;
}
if (args is ["step-scaling-chart", var scalingCsv, var scalingPng])
{
    StepScaling.ChartFromCsv(scalingCsv, scalingPng);
    return;
}
// Per validation image, the largest activation after the backbone, the neck and the head: -- activations CKPT (see ActivationProbe)
if (args is ["activations", var activationsCheckpoint])
{
    ActivationProbe.Run(activationsCheckpoint, Console.Out);
    return;
}
// A checkpoint evaluated with its trainable BatchNorms' statistics recomputed over the training split: -- precise-bn CKPT (see PreciseBatchNormProbe)
if (args is ["precise-bn", var preciseBnCheckpoint])
{
    PreciseBatchNormProbe.Run(preciseBnCheckpoint, Console.Out);
    return;
}
// Backbone feature scale of a trained checkpoint against its fresh build: -- feature-scale CKPT (see FeatureScaleProbe)
if (args is ["feature-scale", var checkpointPath])
{
    FeatureScaleProbe.Run(checkpointPath, Console.Out);
    return;
}
// Which layers' bf16 / channels-last backward is right on this CPU: -- bf16-probe (see Bf16Probe)
if (args is ["bf16-probe"])
{
    Bf16Probe.Run();
    return;
}
// Every detector's training step and inference, interleaved (docs/benchmarks.md): -- detectors W H BATCH ROUNDS [DEPTH]
if (args is ["detectors", var dw, var dh, var db, var dr, ..])
{
    DetectorTimes.Run(int.Parse(dw), int.Parse(dh), int.Parse(db), int.Parse(dr), args.Length > 5 ? args[5] : "r18");
    return;
}
if (args.Length > 0 && args[0] == "loss-ratio")
{
    LossRatio.Run(args.Length > 1 ? int.Parse(args[1]) : 30);
    return;
}
// Benchmarks run in process: the generated out-of-process projects would not get the patched
// libLibTorchSharp.so next to them (see build/PatchLibTorchSharp.targets).
var config = DefaultConfig.Instance.AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).AsDefault());
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
