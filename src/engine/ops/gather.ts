import { tf, type Tensor } from '../tf.js';
import { withGradient } from './custom-grad.js';
import { compositeOp } from '../tracing.js';

/** A wasm backend's view of a tensor's buffer in its heap (no copy). */
interface HeapViewBackend {
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
}

/**
 * The float values of `x` for reading on the host: on wasm a view of its
 * buffer in the heap (valid until the heap next grows, i.e. until the next
 * allocation), elsewhere a copy.
 */
function hostValues(x: Tensor): Float32Array {
  const b = tf.backend() as unknown as Partial<HeapViewBackend>;
  return tf.getBackend() === 'wasm' && typeof b.typedArrayFromHeap === 'function' ? b.typedArrayFromHeap(x) : (x.dataSync() as Float32Array);
}

/**
 * Row gather on the host: wasm's GatherV2 kernel costs ~70 ns per element
 * (110 ms for 25,600 rows of 64), a typed-array copy per row a few ms. The
 * rows are read in place from the wasm heap: copying the whole table out
 * first cost as much as the gather when a large table is sampled in chunks.
 */
function hostGather(x: Tensor, idx: Int32Array): Tensor {
  const rowLen = x.size / x.shape[0]!;
  const out = new Float32Array(idx.length * rowLen);
  const src = hostValues(x);
  for (let i = 0; i < idx.length; i++) {
    const r = idx[i]!;
    if (r < 0 || r >= x.shape[0]!) throw new Error(`gatherRows: index ${r} out of range [0, ${x.shape[0]})`);
    out.set(src.subarray(r * rowLen, (r + 1) * rowLen), i * rowLen);
  }
  // Allocating the result may grow the heap (detaching `src`): only now.
  return tf.tensor(out, [idx.length, ...x.shape.slice(1)], 'float32');
}

/** Backends whose tensors live in host memory, where gathering on the host is cheap. */
function hostBacked(): boolean {
  const b = tf.getBackend();
  return b === 'wasm' || b === 'cpu';
}

/**
 * `x[indices]` along axis 0. Its gradient scatters with `scatterND` (which
 * sums duplicate indices) instead of tfjs' UnsortedSegmentSum, a kernel wasm
 * lacks. On host-memory backends the forward copies rows on the host.
 */
export function gatherRows(x: Tensor, indices: Tensor | Int32Array): Tensor {
  const idxT = indices instanceof Int32Array ? tf.tensor1d(indices, 'int32') : indices.dtype === 'int32' ? indices : tf.cast(indices, 'int32');
  return withGradient([x], ([xi], save) => {
    // The indices must be saved: tensors the forward merely closes over are
    // disposed before the backward pass runs.
    save([idxT]);
    const host = hostBacked() && xi!.dtype === 'float32';
    return {
      // In a traced graph the host gather is an ONNX Gather of the (computed) indices.
      value: host
        ? compositeOp('GatherRows', [xi!, idxT], {}, () => hostGather(xi!, indices instanceof Int32Array ? indices : (idxT.dataSync() as Int32Array)), (e) => void e.node('Gather', [e.input(0), e.input(1)], { axis: 0 }, [e.output()]))
        : tf.gather(xi!, idxT, 0),
      gradFunc: (dy, [ids]) => {
        const flat = ids!.reshape([-1, 1]);
        const g = dy.reshape([flat.shape[0]!, ...x.shape.slice(1)]);
        return [tf.scatterND(flat, g, x.shape)];
      },
    };
  });
}
