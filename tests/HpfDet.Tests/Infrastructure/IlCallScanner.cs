using System.Reflection;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace HpfDet.Tests.Infrastructure;

/// <summary>
/// Reads compiled IL (System.Reflection.Metadata) to find the calls a method makes, including those the
/// C# compiler inserted for implicit conversions and operators, which the source does not show.
/// </summary>
static class IlCallScanner
{
    /// <summary>A method as written in source (lambdas, local functions, iterator and async bodies are
    /// attributed to the method they are written in) and the offending callees it calls.</summary>
    public sealed record Caller(string Method, IReadOnlyList<string> Callees);

    static readonly Dictionary<ushort, OperandType> OperandTypes = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => (ushort)o.Value, o => o.OperandType);

    /// <summary>
    /// The methods of <paramref name="assembly"/> whose IL calls (call, callvirt, newobj, ldftn) a method
    /// for which <paramref name="offending"/> is true, with those callees, sorted by name.
    /// </summary>
    public static IReadOnlyList<Caller> FindCallers(Assembly assembly, Func<MethodBase, bool> offending)
    {
        using var pe = new PEReader(File.OpenRead(assembly.Location));
        var md = pe.GetMetadataReader();
        var module = assembly.ManifestModule;
        var found = new SortedDictionary<string, SortedSet<string>>(StringComparer.Ordinal);
        foreach (var typeHandle in md.TypeDefinitions)
        {
            foreach (var methodHandle in md.GetTypeDefinition(typeHandle).GetMethods())
            {
                var method = md.GetMethodDefinition(methodHandle);
                if (method.RelativeVirtualAddress == 0) continue;
                foreach (int token in CalledTokens(pe.GetMethodBody(method.RelativeVirtualAddress).GetILReader()))
                {
                    var callee = Resolve(module, token);
                    if (callee is null || !offending(callee)) continue;
                    string caller = SourceName(md, typeHandle, md.GetString(method.Name));
                    if (!found.TryGetValue(caller, out var callees)) found[caller] = callees = new(StringComparer.Ordinal);
                    callees.Add($"{callee.DeclaringType?.Name}.{callee.Name}({string.Join(", ", callee.GetParameters().Select(p => p.ParameterType.Name))})");
                }
            }
        }
        return found.Select(kv => new Caller(kv.Key, kv.Value.ToList())).ToList();
    }

    /// <summary>
    /// Metadata tokens of the methods of <paramref name="assembly"/> that call, directly or through other
    /// methods of the same assembly, a method named <paramref name="methodName"/> of the type
    /// <paramref name="typeName"/> declared there (that method included).
    /// </summary>
    public static HashSet<int> MethodsReaching(Assembly assembly, string typeName, string methodName)
    {
        using var pe = new PEReader(File.OpenRead(assembly.Location));
        var md = pe.GetMetadataReader();
        var callers = new Dictionary<int, List<int>>();   // callee → callers, within the assembly
        var reached = new HashSet<int>();
        foreach (var typeHandle in md.TypeDefinitions)
        {
            var type = md.GetTypeDefinition(typeHandle);
            foreach (var methodHandle in type.GetMethods())
            {
                var method = md.GetMethodDefinition(methodHandle);
                int self = MetadataTokens.GetToken(methodHandle);
                if (md.GetString(type.Name) == typeName && md.GetString(method.Name) == methodName) reached.Add(self);
                if (method.RelativeVirtualAddress == 0) continue;
                foreach (int token in CalledTokens(pe.GetMethodBody(method.RelativeVirtualAddress).GetILReader()))
                {
                    var handle = MetadataTokens.EntityHandle(token);
                    if (handle.Kind == HandleKind.MethodSpecification) handle = md.GetMethodSpecification((MethodSpecificationHandle)handle).Method;
                    if (handle.Kind != HandleKind.MethodDefinition) continue;
                    int callee = MetadataTokens.GetToken(handle);
                    if (!callers.TryGetValue(callee, out var list)) callers[callee] = list = [];
                    list.Add(self);
                }
            }
        }
        var pending = new Stack<int>(reached);
        while (pending.Count > 0)
            foreach (int caller in callers.GetValueOrDefault(pending.Pop()) ?? [])
                if (reached.Add(caller)) pending.Push(caller);
        return reached;
    }

    static IEnumerable<int> CalledTokens(BlobReader il)
    {
        var tokens = new List<int>();
        while (il.RemainingBytes > 0)
        {
            ushort code = il.ReadByte();
            if (code == 0xFE) code = (ushort)(0xFE00 | il.ReadByte());
            switch (OperandTypes[code])
            {
                case OperandType.InlineMethod: tokens.Add(il.ReadInt32()); break;
                case OperandType.InlineNone: break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar: il.Offset += 1; break;
                case OperandType.InlineVar: il.Offset += 2; break;
                case OperandType.InlineI8 or OperandType.InlineR: il.Offset += 8; break;
                case OperandType.InlineSwitch: int targets = il.ReadInt32(); il.Offset += 4 * targets; break;
                default: il.Offset += 4; break;
            }
        }
        return tokens;
    }

    static MethodBase? Resolve(Module module, int token)
    {
        // A call whose signature names the caller's own type parameters resolves only with the caller's
        // generic context; the library's tensor code is not generic, so such calls are skipped.
        try { return module.ResolveMethod(token); }
        catch (ArgumentException) { return null; }
    }

    /// <summary>"Namespace.TopLevelType.Method": compiler-generated nested types (closures, state machines)
    /// and methods (&lt;Forward&gt;b__3_0, &lt;Run&gt;g__Local|2_0) map to the method they are written in.</summary>
    static string SourceName(MetadataReader md, TypeDefinitionHandle typeHandle, string method)
    {
        var type = md.GetTypeDefinition(typeHandle);
        string? stateMachineOf = null;
        while (type.GetDeclaringType() is { IsNil: false } outer)
        {
            string nested = md.GetString(type.Name);
            // An iterator's or async method's state machine is named <Method>d__N; its MoveNext is that method.
            if (stateMachineOf is null && nested.StartsWith('<') && nested.Contains(">d__", StringComparison.Ordinal)) stateMachineOf = nested;
            type = md.GetTypeDefinition(outer);
        }
        string source = stateMachineOf is not null && method == "MoveNext" ? stateMachineOf : method;
        if (source.StartsWith('<') && source.IndexOf('>') is > 1 and var close) source = source[1..close];
        string ns = md.GetString(type.Namespace);
        return $"{(ns.Length > 0 ? ns + "." : "")}{md.GetString(type.Name)}.{source}";
    }
}
