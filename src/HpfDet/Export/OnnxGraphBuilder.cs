using System.Globalization;
using Onnx;

namespace HpfDet.Export;

/// <summary>
/// Builds an ONNX graph (OnnxSharp's generated protobuf classes) one node at a time: unique value
/// names, float/int64/double initializers, nodes with typed attributes, typed graph inputs and outputs.
/// Every method returns the name of the value it created, so module exporters chain values by name.
/// </summary>
public sealed class OnnxGraphBuilder
{
    readonly GraphProto graph = new() { Name = "hpfdet" };
    readonly HashSet<string> names = new(StringComparer.Ordinal);

    /// <param name="opset">The default-domain opset the nodes are written for.</param>
    public OnnxGraphBuilder(int opset) => Opset = opset;

    /// <summary>The default-domain opset version.</summary>
    public int Opset { get; }

    /// <summary>The graph built so far.</summary>
    public GraphProto Graph => graph;

    /// <summary>A value name not used yet, derived from <paramref name="hint"/> (module paths make readable names).</summary>
    public string Unique(string hint)
    {
        var name = string.IsNullOrEmpty(hint) ? "v" : hint;
        if (names.Add(name)) return name;
        for (int i = 1; ; i++)
        {
            var candidate = string.Create(CultureInfo.InvariantCulture, $"{name}_{i}");
            if (names.Add(candidate)) return candidate;
        }
    }

    /// <summary>An empty initializer of that type and shape, added to the graph (the caller fills its data).</summary>
    TensorProto NewInitializer(string hint, int count, long[] dims, TensorProto.Types.DataType type)
    {
        CheckCount(hint, count, dims);
        var t = new TensorProto { Name = Unique(hint), DataType = (int)type };
        t.Dims.Add(dims);
        graph.Initializer.Add(t);
        return t;
    }

    /// <summary>A float32 initializer of shape <paramref name="dims"/> (no dims: a scalar).</summary>
    public string Floats(string hint, float[] data, params long[] dims)
    {
        var t = NewInitializer(hint, data.Length, dims, TensorProto.Types.DataType.Float);
        t.FloatData.Add(data);
        return t.Name;
    }

    /// <summary>A float64 initializer of shape <paramref name="dims"/>.</summary>
    public string Doubles(string hint, double[] data, params long[] dims)
    {
        var t = NewInitializer(hint, data.Length, dims, TensorProto.Types.DataType.Double);
        t.DoubleData.Add(data);
        return t.Name;
    }

    /// <summary>An int64 initializer of shape <paramref name="dims"/>.</summary>
    public string Int64s(string hint, long[] data, params long[] dims)
    {
        var t = NewInitializer(hint, data.Length, dims, TensorProto.Types.DataType.Int64);
        t.Int64Data.Add(data);
        return t.Name;
    }

    /// <summary>A 1-D int64 initializer (shapes, axes, indices).</summary>
    public string Int64Vector(string hint, params long[] data) => Int64s(hint, data, data.Length);

    /// <summary>
    /// Adds a node with one output and returns the output's name. Attribute values: long/int (INT),
    /// float/double (FLOAT), string (STRING), long[] (INTS), float[] (FLOATS). An empty input name
    /// is an omitted optional input.
    /// </summary>
    public string Op(string opType, string hint, IReadOnlyList<string> inputs, params (string Name, object Value)[] attributes)
    {
        var output = Unique(hint);
        var node = new NodeProto { OpType = opType, Name = output };
        node.Input.Add(inputs);
        node.Output.Add(output);
        foreach (var (name, value) in attributes) node.Attribute.Add(Attribute(name, value));
        graph.Node.Add(node);
        return output;
    }

    /// <summary>Declares a graph input; a dimension is a fixed size (long) or a symbolic name (string).</summary>
    public void Input(string name, TensorProto.Types.DataType type, params object[] dims)
    {
        names.Add(name);
        graph.Input.Add(ValueInfo(name, type, dims));
    }

    /// <summary>Declares a graph output named <paramref name="name"/> that carries the value <paramref name="value"/>.</summary>
    public void Output(string name, string value, TensorProto.Types.DataType type, params object[] dims)
    {
        if (value != name)
        {
            names.Add(name);
            var node = new NodeProto { OpType = "Identity", Name = name };
            node.Input.Add(value);
            node.Output.Add(name);
            graph.Node.Add(node);
        }
        graph.Output.Add(ValueInfo(name, type, dims));
    }

    static ValueInfoProto ValueInfo(string name, TensorProto.Types.DataType type, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
        {
            shape.Dim.Add(d switch
            {
                string s => new TensorShapeProto.Types.Dimension { DimParam = s },
                long v => new TensorShapeProto.Types.Dimension { DimValue = v },
                int v => new TensorShapeProto.Types.Dimension { DimValue = v },
                _ => throw new ArgumentException($"Dimension {d} of '{name}' must be a size or a symbolic name."),
            });
        }
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }

    static AttributeProto Attribute(string name, object value)
    {
        var a = new AttributeProto { Name = name };
        switch (value)
        {
            case long v: a.Type = AttributeProto.Types.AttributeType.Int; a.I = v; break;
            case int v: a.Type = AttributeProto.Types.AttributeType.Int; a.I = v; break;
            case float v: a.Type = AttributeProto.Types.AttributeType.Float; a.F = v; break;
            case double v: a.Type = AttributeProto.Types.AttributeType.Float; a.F = (float)v; break;
            case string v: a.Type = AttributeProto.Types.AttributeType.String; a.S = Google.Protobuf.ByteString.CopyFromUtf8(v); break;
            case long[] v: a.Type = AttributeProto.Types.AttributeType.Ints; a.Ints.Add(v); break;
            case float[] v: a.Type = AttributeProto.Types.AttributeType.Floats; a.Floats.Add(v); break;
            default: throw new ArgumentException($"Attribute '{name}': unsupported value type {value?.GetType().Name ?? "null"}.");
        }
        return a;
    }

    static void CheckCount(string hint, int count, long[] dims)
    {
        long expected = dims.Aggregate(1L, (p, d) => p * d);
        if (expected != count)
            throw new ArgumentException($"Initializer '{hint}': {count} values for shape [{string.Join(", ", dims)}].");
    }
}
