namespace HpfDet.Tests.Infrastructure;

/// <summary>A test about file permissions: reported as skipped when the tests run as root, whom permissions do not stop.</summary>
public sealed class NotRootFactAttribute : FactAttribute
{
    public NotRootFactAttribute()
    {
        if (Environment.IsPrivilegedProcess) Skip = "Runs as root, whom file permissions do not stop; the folder-as-file tests cover the same error path.";
    }
}
