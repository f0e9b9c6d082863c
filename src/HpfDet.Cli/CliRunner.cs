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
    /// <summary>The command users type; help and messages use it whatever the executable file is called.</summary>
    public const string ToolName = "hpfdet";

    /// <summary>The hpfdet command tree.</summary>
    public static Command CreateRoot()
    {
        // A plain command named like the tool (a RootCommand takes the executable's file name, HpfDet.Cli),
        // with the help and version options a RootCommand would add.
        var root = new Command(ToolName, "hpfdet: train, evaluate and run one-stage object detectors with Hierarchical Progressive Focus (HPF).")
        {
            new System.CommandLine.Help.HelpOption(),
            new VersionOption(),
        };
        root.Subcommands.Add(Commands.DemoCommand.Create());
        root.Subcommands.Add(Commands.TrainCommand.Create());
        root.Subcommands.Add(Commands.EvalCommand.Create());
        root.Subcommands.Add(Commands.DetectCommand.Create());
        root.Subcommands.Add(Commands.ExportCommand.Create());
        root.Subcommands.Add(Commands.CompareCommand.Create());
        root.Subcommands.Add(Commands.StudyCommand.Create());
        root.Subcommands.Add(Commands.InfoCommand.Create());
        root.Subcommands.Add(Commands.VersionCommand.Create());
        return root;
    }

    /// <summary>Parses and runs; user mistakes become one clear line on stderr and an exit code.</summary>
    public static int Run(Command root, string[] args)
    {
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            // One line, however many mistakes the parser found.
            Console.Error.WriteLine($"error: {string.Join(" ", parse.Errors.Select(e => OneLine(e.Message)))} Run '{ToolName} --help' for usage.");
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

    /// <summary>
    /// The one line shown for an exception caused by the user's input or environment, with its exit code;
    /// null for a bug. Files the process cannot read or write (permissions, a folder where a file is
    /// expected, a symlink loop, a full disk) are user errors: the system's message names the path.
    /// </summary>
    static (string Message, int Code)? UserMessage(Exception ex) => ex switch
    {
        UserFacingException u => (OneLine(u.Message), u.ExitCode),
        HpfDet.Training.NonFiniteLossException n => (OneLine(n.Message), ExitCodes.NonFiniteLoss),
        HpfDetException h => (OneLine(h.Message), ExitCodes.UserError),
        HpfDet.Inference.OnnxDetectorException o => (OneLine(o.Message), ExitCodes.UserError),
        FileNotFoundException or DirectoryNotFoundException => (OneLine(ex.Message) + " Check the path.", ExitCodes.UserError),
        UnauthorizedAccessException => (OneLine(ex.Message) + " Check the permissions of that path, or choose another one.", ExitCodes.UserError),
        PathTooLongException => (OneLine(ex.Message) + " Use a shorter path.", ExitCodes.UserError),
        IOException => (OneLine(ex.Message) + " Check that the path exists, is a file or folder as expected, and that the disk has room.", ExitCodes.UserError),
        AggregateException { InnerExceptions.Count: 1 } a => UserMessage(a.InnerException!),
        _ => null,
    };

    static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();
}
