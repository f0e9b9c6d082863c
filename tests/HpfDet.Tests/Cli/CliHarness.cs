using HpfDet.Cli;

namespace HpfDet.Tests.Cli;

/// <summary>Runs the hpfdet tool in-process and captures what it prints.</summary>
public static class CliHarness
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var (previousOut, previousErr) = (Console.Out, Console.Error);
        var (output, error) = (new StringWriter(), new StringWriter());
        Console.SetOut(output);
        Console.SetError(error);
        try { return (CliRunner.Run(CliRunner.CreateRoot(), args), output.ToString(), error.ToString()); }
        finally
        {
            Console.SetOut(previousOut);
            Console.SetError(previousErr);
        }
    }

    /// <summary>The lines of <paramref name="text"/> that are not empty.</summary>
    public static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
