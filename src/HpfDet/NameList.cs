namespace HpfDet;

/// <summary>Joins names for messages: "a, b or c".</summary>
internal static class NameList
{
    public static string Join(IReadOnlyList<string> names, string conjunction) =>
        names.Count <= 1 ? string.Join("", names) : $"{string.Join(", ", names.Take(names.Count - 1))} {conjunction} {names[^1]}";
}
