/**
 * The ONNX file format: the protobuf messages of `onnx.proto` that a model
 * of plain tensors needs (ModelProto, GraphProto, NodeProto, AttributeProto,
 * TensorProto, ValueInfoProto), encoded by hand. Field numbers are those
 * of onnx/onnx.proto; a protobuf message is a sequence of (field << 3 |
 * wire type) keys followed by varints or length-prefixed bytes.
 */

/** TensorProto.DataType values densekit writes. */
export const ONNX_DTYPE = { float32: 1, uint8: 2, int32: 6, int64: 7, bool: 9 } as const;
export type OnnxDType = keyof typeof ONNX_DTYPE;

export type AttributeValue = number | string | number[] | { ints: number[] } | { floats: number[] } | { float: number } | OnnxTensor;

export interface OnnxTensor {
  name: string;
  dtype: OnnxDType;
  dims: number[];
  /** Row-major element bytes (little-endian), or where they live outside the file. */
  data: Uint8Array | { location: string; offset: number; length: number };
}

export interface OnnxNode {
  opType: string;
  inputs: string[];
  outputs: string[];
  name: string;
  attributes: Record<string, AttributeValue>;
  /** Where the node came from (the kernel, the module path), for a reader of the file. */
  docString?: string;
}

export interface OnnxValueInfo {
  name: string;
  dtype: OnnxDType;
  /** A number is a fixed size; a string names a dimension chosen at run time. */
  dims: (number | string)[];
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

export interface OnnxModel {
  graph: OnnxGraph;
  opset: number;
  producerName: string;
  producerVersion: string;
  metadata: Record<string, string>;
}

/** IR version 8 is the one that goes with opset 17 (onnx 1.12). */
const IR_VERSION = 8;

/** Growable byte sink for one message. */
class Writer {
  private buf = new Uint8Array(256);
  private len = 0;

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  varint(v: number | bigint): void {
    // Negative int64 values are encoded as their two's complement (10 bytes).
    let x = BigInt.asUintN(64, BigInt(v));
    this.ensure(10);
    while (x >= 0x80n) {
      this.buf[this.len++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.buf[this.len++] = Number(x);
  }

  key(field: number, wire: 0 | 1 | 2 | 5): void {
    this.varint((field << 3) | wire);
  }

  bytes(field: number, data: Uint8Array): void {
    this.key(field, 2);
    this.varint(data.length);
    this.ensure(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
  }

  string(field: number, s: string): void {
    this.bytes(field, new TextEncoder().encode(s));
  }

  int(field: number, v: number): void {
    this.key(field, 0);
    this.varint(v);
  }

  float(field: number, v: number): void {
    this.key(field, 5);
    this.ensure(4);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 4).setFloat32(0, v, true);
    this.len += 4;
  }

  packedInts(field: number, vs: number[]): void {
    const inner = new Writer();
    for (const v of vs) inner.varint(v);
    this.bytes(field, inner.finish());
  }

  packedFloats(field: number, vs: number[]): void {
    this.bytes(field, new Uint8Array(Float32Array.from(vs).buffer));
  }

  message(field: number, write: (w: Writer) => void): void {
    const inner = new Writer();
    write(inner);
    this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

function writeTensor(w: Writer, t: OnnxTensor): void {
  w.packedInts(1, t.dims);
  w.int(2, ONNX_DTYPE[t.dtype]);
  w.string(8, t.name);
  if (t.data instanceof Uint8Array) w.bytes(9, t.data);
  else {
    const ext = t.data;
    for (const [key, value] of [
      ['location', ext.location],
      ['offset', String(ext.offset)],
      ['length', String(ext.length)],
    ]) {
      w.message(13, (e) => {
        e.string(1, key!);
        e.string(2, value!);
      });
    }
    w.int(14, 1); // data_location: EXTERNAL
  }
}

/** AttributeProto.AttributeType */
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

function writeAttribute(w: Writer, name: string, v: AttributeValue): void {
  w.string(1, name);
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`attribute ${name}: ${v} is not an integer (use { float })`);
    w.int(3, v);
    w.int(20, ATTR.INT);
  } else if (typeof v === 'string') {
    w.string(4, v);
    w.int(20, ATTR.STRING);
  } else if (Array.isArray(v) || 'ints' in v) {
    const ints = Array.isArray(v) ? v : v.ints;
    w.packedInts(8, ints);
    w.int(20, ATTR.INTS);
  } else if ('floats' in v) {
    w.packedFloats(7, v.floats);
    w.int(20, ATTR.FLOATS);
  } else if ('float' in v) {
    w.float(2, v.float);
    w.int(20, ATTR.FLOAT);
  } else {
    w.message(5, (t) => writeTensor(t, v));
    w.int(20, ATTR.TENSOR);
  }
}

function writeValueInfo(w: Writer, v: OnnxValueInfo): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, ONNX_DTYPE[v.dtype]);
      tensor.message(2, (shape) => {
        for (const d of v.dims) shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
      });
    }),
  );
}

function writeNode(w: Writer, n: OnnxNode): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name);
  w.string(4, n.opType);
  for (const [k, v] of Object.entries(n.attributes)) w.message(5, (a) => writeAttribute(a, k, v));
  if (n.docString) w.string(6, n.docString);
}

/** The bytes of a `.onnx` file. */
export function encodeModel(m: OnnxModel): Uint8Array {
  const w = new Writer();
  w.int(1, IR_VERSION);
  w.string(2, m.producerName);
  w.string(3, m.producerVersion);
  w.message(7, (g) => {
    for (const n of m.graph.nodes) g.message(1, (x) => writeNode(x, n));
    g.string(2, m.graph.name);
    for (const t of m.graph.initializers) g.message(5, (x) => writeTensor(x, t));
    for (const v of m.graph.inputs) g.message(11, (x) => writeValueInfo(x, v));
    for (const v of m.graph.outputs) g.message(12, (x) => writeValueInfo(x, v));
  });
  w.message(8, (o) => {
    o.string(1, '');
    o.int(2, m.opset);
  });
  for (const [key, value] of Object.entries(m.metadata)) {
    w.message(14, (e) => {
      e.string(1, key);
      e.string(2, value);
    });
  }
  return w.finish();
}
