using System.CommandLine;

namespace HpfDet.Cli;

/// <summary>Exit codes of the tool (documented in README.md).</summary>
public static class ExitCodes
{
    public const int Success = 0;
    /// <summary>An unexpected internal failure (a bug): the stack trace is printed.</summary>
    public const int InternalError = 1;
    /// <summary>Bad command line: unknown option, missing argument.</summary>
    public const int UsageError = 2;
    /// <summary>A user mistake found while running: missing file, bad data, bad configuration.</summary>
    public const int UserError = 3;
    /// <summary>Training stopped on a NaN or Inf loss.</summary>
    public const int NonFiniteLoss = 4;
    /// <summary>Interrupted by Ctrl+C after writing a checkpoint.</summary>
    public const int Interrupted = 130;
}

/// <summary>
/// An error caused by the user's input (file, option, configuration). The tool prints its message
/// alone, without a stack trace, and exits with <see cref="ExitCodes.UserError"/>.
/// </summary>
public sealed class UserFacingException(string message, int exitCode = ExitCodes.UserError) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

public static class CliRunner
{
    /// <summary>The hpfdet command tree.</summary>
    public static RootCommand CreateRoot()
    {
        var root = new RootCommand("hpfdet: train, evaluate and run one-stage object detectors with Hierarchical Progressive Focus (HPF).");
        root.Subcommands.Add(Commands.DemoCommand.Create());
        root.Subcommands.Add(Commands.TrainCommand.Create());
        root.Subcommands.Add(Commands.EvalCommand.Create());
        root.Subcommands.Add(Commands.DetectCommand.Create());
        root.Subcommands.Add(Commands.ExportCommand.Create());
        root.Subcommands.Add(Commands.CompareCommand.Create());
        root.Subcommands.Add(Commands.InfoCommand.Create());
        root.Subcommands.Add(Commands.VersionCommand.Create());
        return root;
    }

    /// <summary>Parses and runs; user mistakes become one clear line on stderr and an exit code.</summary>
    public static int Run(RootCommand root, string[] args)
    {
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors) Console.Error.WriteLine($"error: {e.Message}");
            Console.Error.WriteLine("Run 'hpfdet --help' for usage.");
            return ExitCodes.UsageError;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception ex) when (UserMessage(ex) is { } msg)
        {
            Console.Error.WriteLine($"error: {msg.Message}");
            return msg.Code;
        }
        catch (Exception ex)
        {
            Console.Error.WriteLine($"internal error (please report it with the lines below): {ex}");
            return ExitCodes.InternalError;
        }
    }

    /// <summary>
    /// A token cancelled by the first Ctrl+C (the run then writes a checkpoint and exits cleanly); a
    /// second Ctrl+C ends the process at once.
    /// </summary>
    public static CancellationTokenSource CancelOnCtrlC()
    {
        var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            if (cts.IsCancellationRequested) return;
            e.Cancel = true;
            Console.Error.WriteLine("Stopping after this iteration and writing a checkpoint (Ctrl+C again to quit at once)...");
            cts.Cancel();
        };
        return cts;
    }

    static (string Message, int Code)? UserMessage(Exception ex) => ex switch
    {
        UserFacingException u => (u.Message, u.ExitCode),
        HpfDet.Training.NonFiniteLossException n => (n.Message, ExitCodes.NonFiniteLoss),
        HpfDetException h => (h.Message, ExitCodes.UserError),
        HpfDet.Inference.OnnxDetectorException o => (o.Message, ExitCodes.UserError),
        FileNotFoundException f => (f.Message, ExitCodes.UserError),
        DirectoryNotFoundException d => (d.Message, ExitCodes.UserError),
        AggregateException { InnerExceptions.Count: 1 } a => UserMessage(a.InnerException!),
        _ => null,
    };
}
