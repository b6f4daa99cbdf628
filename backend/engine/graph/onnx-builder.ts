import { closeSync, openSync, writeSync } from "node:fs";
import onnxProto from "onnx-proto";

const { onnx } = onnxProto;
const DataType = onnx.TensorProto.DataType;
const AttributeType = onnx.AttributeProto.AttributeType;

export type ElementType = "float32" | "float16" | "int64" | "int32" | "uint8";
const elementTypes: Record<ElementType, number> = {
  float32: DataType.FLOAT,
  float16: DataType.FLOAT16,
  int64: DataType.INT64,
  int32: DataType.INT32,
  uint8: DataType.UINT8,
};

export type AttributeValue = number | number[] | string | { float: number };

function attribute(name: string, value: AttributeValue): onnxProto.onnx.IAttributeProto {
  if (typeof value === "string") return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value };
  if (typeof value === "object") return { name, type: AttributeType.FLOAT, f: value.float };
  return { name, type: AttributeType.INT, i: value };
}

/** A tensor of the graph, by its name; where one is made, a comment gives its shape. */
export type Tensor = string;

/** What one model accumulates while it is built, shared by every scoped view of its builder. */
interface ModelInProgress {
  readonly nodes: onnxProto.onnx.INodeProto[];
  readonly initializers: onnxProto.onnx.ITensorProto[];
  readonly inputs: onnxProto.onnx.IValueInfoProto[];
  readonly outputs: onnxProto.onnx.IValueInfoProto[];
  readonly dataFd: number;
  readonly dataPath: string;
  readonly dataFileName: string;
  dataOffset: number;
  counter: number;
  readonly constants: Map<string, Tensor>;
}

/**
 * Builds an ONNX graph node by node. Large weights stream straight into one external data file
 * (so the protobuf stays far below its 2 GB limit and no second copy is held in memory);
 * small constants are embedded.
 */
export class GraphBuilder {
  private constructor(
    private readonly model: ModelInProgress,
    /** Prefix of the nodes' names (e.g. "attention", "moe"), so profiles attribute time to model parts. */
    private readonly scope: string,
  ) {}

  /** A new graph whose weights go to the file at dataPath, which the model names dataFileName. */
  static create(dataPath: string, dataFileName: string): GraphBuilder {
    const model: ModelInProgress = {
      nodes: [],
      initializers: [],
      inputs: [],
      outputs: [],
      dataFd: openSync(dataPath, "w"),
      dataPath,
      dataFileName,
      dataOffset: 0,
      counter: 0,
      constants: new Map(),
    };
    return new GraphBuilder(model, "");
  }

  /** The same graph, naming the nodes added through the view under `scope`. */
  scoped(scope: string): GraphBuilder {
    return new GraphBuilder(this.model, scope);
  }

  input(name: string, type: ElementType, dims: (number | string)[]): Tensor {
    this.model.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  output(name: string, type: ElementType, dims: (number | string)[]): void {
    this.model.outputs.push(valueInfo(name, type, dims));
  }

  /** Adds a node; returns its output names (`outputs` of them, or the given names). */
  node(
    opType: string,
    inputs: Tensor[],
    attributes: Record<string, AttributeValue> = {},
    options: { outputs?: number | string[]; domain?: string } = {},
  ): Tensor[] {
    const id = this.model.counter++;
    const outputs =
      typeof options.outputs === "object"
        ? options.outputs
        : Array.from({ length: options.outputs ?? 1 }, (_, i) => `${opType}_${id}_${i}`);
    this.model.nodes.push({
      opType,
      domain: options.domain ?? "",
      name: `${this.scope}/${opType}_${id}`,
      input: inputs,
      output: outputs,
      attribute: Object.entries(attributes).map(([key, value]) => attribute(key, value)),
    });
    return outputs;
  }

  /** Single-output shorthand for node(). */
  op(opType: string, inputs: Tensor[], attributes: Record<string, AttributeValue> = {}, domain = ""): Tensor {
    return this.node(opType, inputs, attributes, { domain })[0];
  }

  cast(x: Tensor, to: ElementType, output?: string): Tensor {
    return this.node("Cast", [x], { to: elementTypes[to] }, output ? { outputs: [output] } : {})[0];
  }

  /** A weight written to the external data file. */
  weight(name: string, type: ElementType, dims: number[], data: ArrayBufferView): Tensor {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const { tensor, offset } = this.reserve(name, type, dims, bytes.length);
    let written = 0;
    while (written < bytes.length)
      written += writeSync(this.model.dataFd, bytes, written, bytes.length - written, offset + written);
    return tensor;
  }

  /**
   * A weight whose `byteLength` bytes someone else writes at `offset` of the data file (`dataPath`)
   * before the model is used: how weights computed on other threads take their place.
   */
  reserve(name: string, type: ElementType, dims: number[], byteLength: number): { tensor: Tensor; offset: number } {
    const offset = this.model.dataOffset;
    // 64-byte alignment lets ORT map tensors without realigning them.
    this.model.dataOffset = Math.ceil((offset + byteLength) / 64) * 64;
    this.model.initializers.push({
      name,
      dataType: elementTypes[type],
      dims,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: "location", value: this.model.dataFileName },
        { key: "offset", value: String(offset) },
        { key: "length", value: String(byteLength) },
      ],
    });
    return { tensor: name, offset };
  }

  get dataPath(): string {
    return this.model.dataPath;
  }

  /** A small embedded constant; identical constants are shared. */
  constant(type: "float32" | "int64" | "int32", dims: number[], values: number[]): Tensor {
    const { constants, initializers } = this.model;
    const key = `${type}:${dims.join(",")}:${values.join(",")}`;
    const existing = constants.get(key);
    if (existing) return existing;
    const name = `const_${constants.size}`;
    const arrays = {
      float32: () => new Float32Array(values),
      int32: () => new Int32Array(values),
      int64: () => new BigInt64Array(values.map(BigInt)),
    };
    const rawData = new Uint8Array(arrays[type]().buffer);
    initializers.push({ name, dataType: elementTypes[type], dims, rawData });
    constants.set(key, name);
    return name;
  }

  /** Dimensions [from, to) of x's shape, int64: a dynamic size for shape arithmetic. */
  dims(x: Tensor, from: number, to = from + 1): Tensor {
    return this.op("Slice", [this.op("Shape", [x]), this.ints([from]), this.ints([to])]);
  }

  ints(values: number[]): Tensor {
    return this.constant("int64", [values.length], values);
  }

  scalar(value: number): Tensor {
    return this.constant("float32", [], [value]);
  }

  /** Closes the data file and returns the serialised model. */
  finish(): Uint8Array {
    const { nodes, initializers, inputs, outputs } = this.model;
    closeSync(this.model.dataFd);
    const model = onnx.ModelProto.create({
      irVersion: 10,
      producerName: "moxie",
      opsetImport: [
        { domain: "", version: 21 },
        { domain: "com.microsoft", version: 1 },
      ],
      graph: {
        name: "moxie",
        node: nodes,
        initializer: initializers,
        input: inputs,
        output: outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function valueInfo(name: string, type: ElementType, dims: (number | string)[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: elementTypes[type],
        shape: { dim: dims.map((dim) => (typeof dim === "number" ? { dimValue: dim } : { dimParam: dim })) },
      },
    },
  };
}
