using System.Reflection;

namespace HpfDet;

/// <summary>The library's version, as the build stamps it (written into ONNX metadata and training logs).</summary>
public static class HpfDetVersion
{
    public static string Informational { get; } =
        typeof(HpfDetVersion).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
}
