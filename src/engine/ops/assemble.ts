import { tf, type Tensor } from '../tf.js';
import { tapeIsRecording } from './eager.js';
import { isTracing } from '../tracing.js';

/** The part of the wasm backend that lets a new tensor be filled in place. */
interface WasmBackend {
  write(values: null, shape: number[], dtype: tf.DataType): object;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
}

/**
 * A float32 tensor of `shape` written slab by slab along axis 0. Without a
 * gradient tape on wasm the result is allocated when the assembler is made
 * and each slab is copied into it inside the heap (and may be freed at
 * once), so slabs never coexist with each other or with a concatenated copy,
 * and the large block can be taken early, before other work fragments the
 * heap. Elsewhere, and while a graph is traced (a tracer sees kernels, not
 * in-heap copies), the slabs are kept and concatenated.
 */
export class RowAssembler {
  private readonly out?: Tensor;
  private readonly parts: Tensor[] = [];
  private readonly rowSize: number;
  private written = 0;

  constructor(readonly shape: number[]) {
    this.rowSize = shape.slice(1).reduce((a, b) => a * b, 1);
    if (tf.getBackend() === 'wasm' && !tapeIsRecording() && !isTracing()) {
      const backend = tf.backend() as unknown as WasmBackend;
      const dataId = backend.write(null, shape, 'float32');
      this.out = tf.engine().makeTensorFromDataId(dataId, shape, 'float32', tf.backend());
    }
  }

  /** The next rows, in order (the caller still owns `slab`: write it inside a scope). */
  write(slab: Tensor): void {
    const rows = slab.shape[0]!;
    if (slab.dtype !== 'float32' || slab.size !== rows * this.rowSize || this.written + rows > this.shape[0]!) {
      throw new Error(`RowAssembler: slab of shape [${slab.shape}] does not fit rows ${this.written}.. of [${this.shape}]`);
    }
    if (this.out) {
      const backend = tf.backend() as unknown as WasmBackend;
      // Views taken now: computing the slab may have grown (and moved) the heap.
      backend.typedArrayFromHeap(this.out).set(backend.typedArrayFromHeap(slab), this.written * this.rowSize);
    } else {
      this.parts.push(tf.keep(slab.clone()));
    }
    this.written += rows;
  }

  /** The assembled tensor (all rows must have been written). */
  result(): Tensor {
    if (this.written !== this.shape[0]) throw new Error(`RowAssembler: ${this.written} of ${this.shape[0]} rows written`);
    if (this.out) return this.out;
    const t = this.parts.length === 1 ? this.parts[0]!.reshape(this.shape) : tf.concat(this.parts, 0).reshape(this.shape);
    for (const p of this.parts) p.dispose();
    return t;
  }

  /** Free what was allocated (after a failure). */
  dispose(): void {
    this.out?.dispose();
    for (const p of this.parts) p.dispose();
  }
}
