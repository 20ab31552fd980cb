import type { OnnxDType } from './proto.js';

/**
 * How each tfjs kernel becomes ONNX nodes (opset 17, default domain only).
 * Keys are tfjs's own kernel names; a kernel not listed here cannot be
 * exported, and the tracer says which kernel in which module that was.
 * Layout stays NHWC as in the model code: only convolutions and pooling
 * transpose to ONNX's NCHW and back (onnxruntime folds most of those away).
 */

/** What a converter sees of one kernel call. */
export interface KernelEmitter {
  readonly kernel: string;
  readonly attrs: Record<string, unknown>;
  /** Number of (non-empty) inputs. */
  readonly numInputs: number;
  /** The ONNX value name of input i. */
  input(i: number): string;
  inputShape(i: number): number[];
  inputDtype(i: number): string;
  /** An input's data when it is a constant (parameters, host values), else undefined. */
  constantData(i: number): ArrayLike<number> | undefined;
  outputShape(i?: number): number[];
  outputDtype(i?: number): string;
  /** The name the kernel's output i must have. */
  output(i?: number): string;
  /** Emit one node; returns its (fresh, unless given) output names. */
  node(opType: string, inputs: string[], attributes?: Record<string, unknown>, outputs?: string[] | number): string[];
  int64(values: number[]): string;
  scalar(value: number, dtype: OnnxDType): string;
  /** A constant tensor given by its data (e.g. a transposed filter). */
  tensor(data: ArrayLike<number>, dims: number[], dtype: OnnxDType): string;
}

export type Converter = (e: KernelEmitter) => void;

/** ONNX element type of a tfjs dtype. */
export function onnxDType(dtype: string): OnnxDType {
  if (dtype === 'float32' || dtype === 'int32' || dtype === 'bool') return dtype;
  throw new Error(`dtype ${dtype} has no ONNX export`);
}

const ONNX_CAST_TO: Record<string, number> = { float32: 1, int32: 6, bool: 9 };

function axes(attr: unknown, rank: number): number[] {
  const list = Array.isArray(attr) ? (attr as number[]) : attr === undefined || attr === null ? Array.from({ length: rank }, (_, i) => i) : [attr as number];
  return list.map((a) => (a < 0 ? a + rank : a));
}

function unary(op: string): Converter {
  return (e) => void e.node(op, [e.input(0)], {}, [e.output()]);
}

function binary(op: string): Converter {
  return (e) => void e.node(op, [e.input(0), e.input(1)], {}, [e.output()]);
}

/** Reductions whose axes are an attribute in opset 17 (ReduceSum's are an input). */
function reduce(op: string, axisAttr: 'axis' | 'reductionIndices'): Converter {
  return (e) => {
    const rank = e.inputShape(0).length;
    const ax = axes(e.attrs[axisAttr], rank);
    const keep = e.attrs.keepDims ? 1 : 0;
    if (op === 'ReduceSum') e.node(op, [e.input(0), e.int64(ax)], { keepdims: keep }, [e.output()]);
    else e.node(op, [e.input(0)], { axes: ax, keepdims: keep }, [e.output()]);
  };
}

/** Explicit [top, bottom, left, right] padding of a 2-D window op, as tfjs computes it. */
export function windowPads(pad: unknown, inH: number, inW: number, kH: number, kW: number, sH: number, sW: number, dH: number, dW: number): [number, number, number, number] {
  if (Array.isArray(pad)) {
    const p = pad as number[][];
    return [p[1]![0]!, p[1]![1]!, p[2]![0]!, p[2]![1]!];
  }
  if (typeof pad === 'number') return [pad, pad, pad, pad];
  if (pad === 'valid') return [0, 0, 0, 0];
  if (pad === 'same') {
    const one = (inS: number, k: number, s: number, d: number): [number, number] => {
      const eff = (k - 1) * d + 1;
      const out = Math.ceil(inS / s);
      const total = Math.max((out - 1) * s + eff - inS, 0);
      return [Math.floor(total / 2), total - Math.floor(total / 2)];
    };
    const [t, b] = one(inH, kH, sH, dH);
    const [l, r] = one(inW, kW, sW, dW);
    return [t, b, l, r];
  }
  throw new Error(`padding ${String(pad)} is not supported`);
}

function pair(v: unknown): [number, number] {
  return Array.isArray(v) ? [v[0] as number, v[1] as number] : [v as number, v as number];
}

const toNchw = [0, 3, 1, 2];
const toNhwc = [0, 2, 3, 1];

/** A conv's HWIO filter as ONNX's OIHW (grouped: [Ci*mult, 1, kh, kw] from depthwise [kh, kw, Ci, mult]). */
function filterOihw(e: KernelEmitter, depthwise: boolean): string {
  const [kh, kw, ci, co] = e.inputShape(1) as [number, number, number, number];
  const data = e.constantData(1);
  if (data) {
    const out = new Float32Array(kh * kw * ci * co);
    // HWIO → OIHW, or for depthwise H W C M → (C*M) 1 H W.
    for (let y = 0; y < kh; y++)
      for (let x = 0; x < kw; x++)
        for (let i = 0; i < ci; i++)
          for (let o = 0; o < co; o++) {
            const src = ((y * kw + x) * ci + i) * co + o;
            const dst = depthwise ? ((i * co + o) * kh + y) * kw + x : ((o * ci + i) * kh + y) * kw + x;
            out[dst] = data[src]!;
          }
    return e.tensor(out, depthwise ? [ci * co, 1, kh, kw] : [co, ci, kh, kw], 'float32');
  }
  if (depthwise) {
    const t = e.node('Transpose', [e.input(1)], { perm: [2, 3, 0, 1] })[0]!;
    return e.node('Reshape', [t, e.int64([ci * co, 1, kh, kw])])[0]!;
  }
  return e.node('Transpose', [e.input(1)], { perm: [3, 2, 0, 1] })[0]!;
}

function conv(depthwise: boolean): Converter {
  return (e) => {
    const [, inH, inW, ci] = e.inputShape(0) as [number, number, number, number];
    const [kh, kw] = e.inputShape(1) as [number, number];
    if (e.attrs.dataFormat && e.attrs.dataFormat !== 'NHWC') throw new Error(`${e.kernel}: only NHWC is exported`);
    const [sH, sW] = pair(e.attrs.strides);
    const [dH, dW] = pair(e.attrs.dilations ?? 1);
    const [t, b, l, r] = windowPads(e.attrs.pad, inH, inW, kh, kw, sH, sW, dH, dW);
    const x = e.node('Transpose', [e.input(0)], { perm: toNchw })[0]!;
    const y = e.node('Conv', [x, filterOihw(e, depthwise)], { kernel_shape: [kh, kw], strides: [sH, sW], dilations: [dH, dW], pads: [t, l, b, r], group: depthwise ? ci : 1 })[0]!;
    e.node('Transpose', [y], { perm: toNhwc }, [e.output()]);
  };
}

function pool(op: 'MaxPool' | 'AveragePool'): Converter {
  return (e) => {
    const [, inH, inW] = e.inputShape(0) as [number, number, number, number];
    const [kh, kw] = pair(e.attrs.filterSize);
    const [sH, sW] = pair(e.attrs.strides);
    const [t, b, l, r] = windowPads(e.attrs.pad, inH, inW, kh, kw, sH, sW, 1, 1);
    const x = e.node('Transpose', [e.input(0)], { perm: toNchw })[0]!;
    const attrs: Record<string, unknown> = { kernel_shape: [kh, kw], strides: [sH, sW], pads: [t, l, b, r] };
    // tfjs averages over the window's valid (unpadded) part.
    if (op === 'AveragePool') attrs.count_include_pad = 0;
    const y = e.node(op, [x], attrs)[0]!;
    e.node('Transpose', [y], { perm: toNhwc }, [e.output()]);
  };
}

export const CONVERTERS: Readonly<Record<string, Converter>> = {
  Identity: unary('Identity'),
  Reshape: (e) => void e.node('Reshape', [e.input(0), e.int64(e.outputShape())], {}, [e.output()]),
  // A new axis of size 1: a reshape to the output's shape (shapes are fixed in a traced graph).
  ExpandDims: (e) => void e.node('Reshape', [e.input(0), e.int64(e.outputShape())], {}, [e.output()]),
  Transpose: (e) => void e.node('Transpose', [e.input(0)], { perm: e.attrs.perm as number[] }, [e.output()]),
  Cast: (e) => void e.node('Cast', [e.input(0)], { to: ONNX_CAST_TO[e.attrs.dtype as string]! }, [e.output()]),

  Add: binary('Add'),
  Sub: binary('Sub'),
  Multiply: binary('Mul'),
  RealDiv: binary('Div'),
  Maximum: binary('Max'),
  Minimum: binary('Min'),
  Pow: binary('Pow'),
  Greater: binary('Greater'),
  GreaterEqual: binary('GreaterOrEqual'),
  Less: binary('Less'),
  LessEqual: binary('LessOrEqual'),
  Equal: binary('Equal'),
  LogicalAnd: binary('And'),
  AddN: (e) => void e.node('Sum', Array.from({ length: e.numInputs }, (_, i) => e.input(i)), {}, [e.output()]),
  Select: (e) => void e.node('Where', [e.input(0), e.input(1), e.input(2)], {}, [e.output()]),

  Square: (e) => void e.node('Mul', [e.input(0), e.input(0)], {}, [e.output()]),
  Rsqrt: (e) => void e.node('Reciprocal', [e.node('Sqrt', [e.input(0)])[0]!], {}, [e.output()]),
  Sqrt: unary('Sqrt'),
  Exp: unary('Exp'),
  Log: unary('Log'),
  Erf: unary('Erf'),
  Tanh: unary('Tanh'),
  Sigmoid: unary('Sigmoid'),
  Relu: unary('Relu'),
  Abs: unary('Abs'),
  Neg: unary('Neg'),
  Floor: unary('Floor'),
  Ceil: unary('Ceil'),
  Reciprocal: unary('Reciprocal'),
  ClipByValue: (e) => {
    const dt = onnxDType(e.inputDtype(0));
    e.node('Clip', [e.input(0), e.scalar(e.attrs.clipValueMin as number, dt), e.scalar(e.attrs.clipValueMax as number, dt)], {}, [e.output()]);
  },
  Softmax: (e) => void e.node('Softmax', [e.input(0)], { axis: axes(e.attrs.dim ?? -1, e.inputShape(0).length)[0]! }, [e.output()]),

  Mean: reduce('ReduceMean', 'axis'),
  Sum: reduce('ReduceSum', 'axis'),
  Max: reduce('ReduceMax', 'reductionIndices'),
  Min: reduce('ReduceMin', 'axis'),
  Prod: reduce('ReduceProd', 'axis'),
  ArgMax: (e) => {
    const a = axes(e.attrs.axis, e.inputShape(0).length)[0]!;
    const idx = e.node('ArgMax', [e.input(0)], { axis: a, keepdims: 0 })[0]!;
    e.node('Cast', [idx], { to: ONNX_CAST_TO.int32! }, [e.output()]);
  },

  BatchMatMul: (e) => {
    const t = (i: number, flag: unknown) => {
      if (!flag) return e.input(i);
      const r = e.inputShape(i).length;
      const perm = Array.from({ length: r }, (_, k) => k);
      [perm[r - 2], perm[r - 1]] = [perm[r - 1]!, perm[r - 2]!];
      return e.node('Transpose', [e.input(i)], { perm })[0]!;
    };
    e.node('MatMul', [t(0, e.attrs.transposeA), t(1, e.attrs.transposeB)], {}, [e.output()]);
  },
  Conv2D: conv(false),
  DepthwiseConv2dNative: conv(true),
  MaxPool: pool('MaxPool'),
  AvgPool: pool('AveragePool'),

  Slice: (e) => {
    const begin = e.attrs.begin as number[];
    const size = e.outputShape();
    const ax = begin.map((_, i) => i);
    e.node('Slice', [e.input(0), e.int64(begin), e.int64(begin.map((b, i) => b + size[i]!)), e.int64(ax)], {}, [e.output()]);
  },
  Concat: (e) => {
    const rank = e.outputShape().length;
    const a = axes(e.attrs.axis, rank)[0]!;
    const inputs = Array.from({ length: e.numInputs }, (_, i) => e.input(i));
    if (inputs.length === 1) e.node('Identity', inputs, {}, [e.output()]);
    else e.node('Concat', inputs, { axis: a }, [e.output()]);
  },
  Pack: (e) => {
    const a = axes(e.attrs.axis, e.outputShape().length)[0]!;
    const parts = Array.from({ length: e.numInputs }, (_, i) => e.node('Unsqueeze', [e.input(i), e.int64([a])])[0]!);
    e.node('Concat', parts, { axis: a }, [e.output()]);
  },
  PadV2: (e) => {
    const p = e.attrs.paddings as [number, number][];
    const pads = [...p.map((x) => x[0]), ...p.map((x) => x[1])];
    e.node('Pad', [e.input(0), e.int64(pads), e.scalar((e.attrs.constantValue as number) ?? 0, onnxDType(e.inputDtype(0)))], { mode: 'constant' }, [e.output()]);
  },
  Tile: (e) => void e.node('Tile', [e.input(0), e.int64(e.attrs.reps as number[])], {}, [e.output()]),
  GatherV2: (e) => {
    if ((e.attrs.batchDims as number | undefined) ?? 0) throw new Error('GatherV2 with batchDims is not exported');
    const a = axes(e.attrs.axis, e.inputShape(0).length)[0]!;
    e.node('Gather', [e.input(0), e.input(1)], { axis: a }, [e.output()]);
  },
  OneHot: (e) => {
    const dt = onnxDType(e.outputDtype());
    const values = e.tensor([e.attrs.offValue as number, e.attrs.onValue as number], [2], dt);
    e.node('OneHot', [e.input(0), e.int64([e.attrs.depth as number]), values], { axis: -1 }, [e.output()]);
  },
  SplitV: (e) => {
    const a = axes(e.attrs.axis, e.inputShape(0).length)[0]!;
    const n = (e.attrs.numOrSizeSplits as number[] | number) ?? 1;
    const sizes = Array.isArray(n) ? n : Array.from({ length: n }, () => e.inputShape(0)[a]! / n);
    e.node('Split', [e.input(0), e.int64(sizes)], { axis: a }, sizes.map((_, i) => e.output(i)));
  },
  ResizeBilinear: (e) => {
    const [b, , , c] = e.inputShape(0) as [number, number, number, number];
    const [h, w] = e.attrs.size as [number, number];
    const mode = e.attrs.alignCorners ? 'align_corners' : e.attrs.halfPixelCenters ? 'half_pixel' : 'asymmetric';
    e.node('Resize', [e.input(0), '', '', e.int64([b, h, w, c])], { mode: 'linear', coordinate_transformation_mode: mode }, [e.output()]);
  },
};
