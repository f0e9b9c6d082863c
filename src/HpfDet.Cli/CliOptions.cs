using System.CommandLine;
using HpfDet.Models;

namespace HpfDet.Cli;

/// <summary>Options several commands share, defined once.</summary>
public static class CliOptions
{
    /// <summary>--precision fp32|bf16 for a checkpoint run with libtorch.</summary>
    public static Option<string> Precision()
    {
        var option = new Option<string>("--precision")
        {
            Description = "Inference precision with libtorch: fp32 (as trained) or bf16 (bfloat16 weights and activations in channels-last layout, " +
                "about 2x faster on CPUs with AVX512-BF16 or AMX; boxes and scores differ slightly from fp32).",
            DefaultValueFactory = _ => "fp32",
        };
        option.AcceptOnlyFromAmong([.. ComputePrecisionNames.All]);
        return option;
    }
}
