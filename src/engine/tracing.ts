/**
 * Whether a graph tracer is recording the kernels that run now. Ops that
 * take host-side shortcuts on memory-backed backends (a row gather done
 * with typed arrays, a tensor filled in place in the wasm heap) must take
 * their plain tensor-op path while tracing: the tracer sees kernels only,
 * and a value produced outside them would either be refused as a host read
 * or, worse, be taken for a constant and frozen into the graph.
 */
let depth = 0;

export function isTracing(): boolean {
  return depth > 0;
}

/** Run `fn` with `isTracing()` true. */
export function whileTracing<T>(fn: () => T): T {
  depth++;
  try {
    return fn();
  } finally {
    depth--;
  }
}
