using System.Runtime.InteropServices;
using Google.Protobuf;

namespace HpfDet.Models.Backbones;

/// <summary>An ONNX node: operator, tensor names in and out, attributes.</summary>
internal sealed record OnnxNode(string Name, string OpType, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs,
    IReadOnlyDictionary<string, OnnxAttribute> Attributes)
{
    public long[] Ints(string name) => Attributes.TryGetValue(name, out var a) ? a.Ints : [];
    public float? Float(string name) => Attributes.TryGetValue(name, out var a) ? a.F : null;
}

/// <summary>The attribute fields this reader keeps (f, i, s, floats, ints).</summary>
internal sealed record OnnxAttribute(string Name, float? F, long? I, string? S, float[] Floats, long[] Ints);

/// <summary>A float32 initializer.</summary>
internal sealed record OnnxInitializer(string Name, long[] Dims, float[] Data);

/// <summary>The parts of an ONNX graph needed to import weights.</summary>
internal sealed record OnnxGraph(IReadOnlyList<OnnxNode> Nodes, IReadOnlyDictionary<string, OnnxInitializer> Initializers,
    IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs);

/// <summary>
/// A minimal reader of ONNX ModelProto files (onnx.proto, proto2 wire format) with Google.Protobuf's
/// CodedInputStream: only graph nodes, float initializers, and graph input/output names. Field numbers:
/// ModelProto.graph = 7; GraphProto node = 1, initializer = 5, input = 11, output = 12;
/// NodeProto input = 1, output = 2, name = 3, op_type = 4, attribute = 5; AttributeProto name = 1,
/// f = 2, i = 3, s = 4, floats = 7, ints = 8; TensorProto dims = 1, data_type = 2, float_data = 4,
/// name = 8, raw_data = 9, data_location = 14; ValueInfoProto name = 1.
/// </summary>
internal static class OnnxGraphReader
{
    const int TensorFloat = 1;

    internal static OnnxGraph Read(string path)
    {
        if (!File.Exists(path))
            throw new HpfDetException($"ONNX file '{path}' not found.");
        try
        {
            using var stream = File.OpenRead(path);
            var input = new CodedInputStream(stream);
            OnnxGraph? graph = null;
            uint tag;
            while ((tag = input.ReadTag()) != 0)
            {
                if (WireFormat.GetTagFieldNumber(tag) == 7 && WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited)
                    graph = ReadGraph(input.ReadBytes(), path);
                else
                    input.SkipLastField();
            }
            return graph ?? throw new HpfDetException($"ONNX file '{path}' has no graph (ModelProto field 7): is it an ONNX model?");
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new HpfDetException($"ONNX file '{path}' is not a valid protobuf ModelProto ({e.Message}): check that it is an ONNX model and not truncated.", e);
        }
    }

    static OnnxGraph ReadGraph(ByteString bytes, string path)
    {
        var nodes = new List<OnnxNode>();
        var initializers = new Dictionary<string, OnnxInitializer>(StringComparer.Ordinal);
        var inputs = new List<string>();
        var outputs = new List<string>();
        var input = bytes.CreateCodedInput();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1: nodes.Add(ReadNode(input.ReadBytes())); break;
                case 5:
                    var init = ReadTensor(input.ReadBytes(), path);
                    initializers[init.Name] = init;
                    break;
                case 11: inputs.Add(ReadValueInfoName(input.ReadBytes())); break;
                case 12: outputs.Add(ReadValueInfoName(input.ReadBytes())); break;
                default: input.SkipLastField(); break;
            }
        }
        return new OnnxGraph(nodes, initializers, inputs, outputs);
    }

    static OnnxNode ReadNode(ByteString bytes)
    {
        var inputs = new List<string>();
        var outputs = new List<string>();
        var attributes = new Dictionary<string, OnnxAttribute>(StringComparer.Ordinal);
        string name = "", opType = "";
        var input = bytes.CreateCodedInput();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1: inputs.Add(input.ReadString()); break;
                case 2: outputs.Add(input.ReadString()); break;
                case 3: name = input.ReadString(); break;
                case 4: opType = input.ReadString(); break;
                case 5:
                    var attribute = ReadAttribute(input.ReadBytes());
                    attributes[attribute.Name] = attribute;
                    break;
                default: input.SkipLastField(); break;
            }
        }
        return new OnnxNode(name, opType, inputs, outputs, attributes);
    }

    static OnnxAttribute ReadAttribute(ByteString bytes)
    {
        string name = "";
        float? f = null;
        long? i = null;
        string? s = null;
        var floats = new List<float>();
        var ints = new List<long>();
        var input = bytes.CreateCodedInput();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            var packed = WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited;
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1: name = input.ReadString(); break;
                case 2: f = input.ReadFloat(); break;
                case 3: i = input.ReadInt64(); break;
                case 4: s = input.ReadBytes().ToStringUtf8(); break;
                case 7:
                    if (packed) floats.AddRange(MemoryMarshal.Cast<byte, float>(input.ReadBytes().Span).ToArray());
                    else floats.Add(input.ReadFloat());
                    break;
                case 8:
                    if (packed) ReadPackedInt64(input.ReadBytes(), ints);
                    else ints.Add(input.ReadInt64());
                    break;
                default: input.SkipLastField(); break;
            }
        }
        return new OnnxAttribute(name, f, i, s, floats.ToArray(), ints.ToArray());
    }

    static OnnxInitializer ReadTensor(ByteString bytes, string path)
    {
        var dims = new List<long>();
        int dataType = 0;
        string name = "";
        float[]? data = null;
        var floatData = new List<float>();
        bool external = false;
        var input = bytes.CreateCodedInput();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            var packed = WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited;
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1:
                    if (packed) ReadPackedInt64(input.ReadBytes(), dims);
                    else dims.Add(input.ReadInt64());
                    break;
                case 2: dataType = input.ReadInt32(); break;
                case 4:
                    if (packed) floatData.AddRange(MemoryMarshal.Cast<byte, float>(input.ReadBytes().Span).ToArray());
                    else floatData.Add(input.ReadFloat());
                    break;
                case 8: name = input.ReadString(); break;
                // raw_data is little-endian, as is every platform .NET runs TorchSharp on.
                case 9: data = MemoryMarshal.Cast<byte, float>(input.ReadBytes().Span).ToArray(); break;
                case 14: external = input.ReadEnum() == 1; break;
                default: input.SkipLastField(); break;
            }
        }
        if (external)
            throw new HpfDetException($"ONNX file '{path}': initializer '{name}' is stored in an external data file, which this reader does not support.");
        if (dataType != TensorFloat)
            throw new HpfDetException($"ONNX file '{path}': initializer '{name}' has data_type {dataType}; only float32 (1) weights are supported.");
        data ??= floatData.ToArray();
        long expected = dims.Aggregate(1L, (a, d) => a * d);
        if (data.LongLength != expected)
            throw new HpfDetException($"ONNX file '{path}': initializer '{name}' holds {data.LongLength} values for shape [{string.Join(", ", dims)}] ({expected}); the file looks damaged.");
        return new OnnxInitializer(name, dims.ToArray(), data);
    }

    static string ReadValueInfoName(ByteString bytes)
    {
        var input = bytes.CreateCodedInput();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            if (WireFormat.GetTagFieldNumber(tag) == 1) return input.ReadString();
            input.SkipLastField();
        }
        return "";
    }

    static void ReadPackedInt64(ByteString bytes, List<long> into)
    {
        var input = bytes.CreateCodedInput();
        while (!input.IsAtEnd) into.Add(input.ReadInt64());
    }
}
