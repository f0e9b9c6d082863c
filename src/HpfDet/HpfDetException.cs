namespace HpfDet;

/// <summary>
/// An error caused by input the user can fix (a file, a field, an option). The message says what was
/// wrong, where (file, line, field) and what to do; front ends show it without a stack trace.
/// </summary>
public class HpfDetException : Exception
{
    public HpfDetException(string message) : base(message) { }
    public HpfDetException(string message, Exception inner) : base(message, inner) { }
}
