import { tf, type Tensor } from './tf.js';

/** The parts of a tfjs tape node this module touches. */
interface TapeNode {
  inputs: Record<string, Tensor>;
  outputs: Tensor[];
  gradient?: (dys: (Tensor | null)[]) => Record<string, () => Tensor>;
}

interface EngineInternals {
  state: { activeTape: TapeNode[] | null };
  addTapeNode(...args: unknown[]): void;
}

/**
 * What one backward pass over one tape knows about tfjs' gradient map
 * (tensor id → accumulated gradient), which it cannot see directly.
 */
class TapeRelease {
  /** Gradients stored as they were returned, by the id of the tensor they belong to. */
  private readonly fresh = new Map<number, Tensor>();
  /** How many `fresh` entries hold each tensor (a gradient function may return one tensor for two inputs). */
  private readonly freshUses = new Map<Tensor, number>();
  private readonly seen = new Set<number>();
  /** Tensors the last node's step made or used that the map no longer needs once that step is over. */
  private pending: Tensor[] = [];

  /** Called as a node's backward step starts: the previous step is over. */
  startNode(node: TapeNode, dys: (Tensor | null)[]): void {
    for (const t of this.pending) if (!this.freshUses.has(t)) t.dispose();
    // This node consumes its outputs' gradients: nothing reads them after it.
    for (const o of node.outputs) this.forget(o.id);
    this.pending = dys.filter((d): d is Tensor => d !== null);
  }

  /** A node's gradient for input `x`, about to be stored (or added) in the map. */
  returned(x: Tensor, dx: Tensor): void {
    if (!this.seen.has(x.id)) {
      this.seen.add(x.id);
      this.fresh.set(x.id, dx);
      this.freshUses.set(dx, (this.freshUses.get(dx) ?? 0) + 1);
      return;
    }
    // tfjs stores add(previous, dx) and disposes previous; dx itself is then unreferenced.
    this.forget(x.id);
    this.pending.push(dx);
  }

  private forget(id: number): void {
    const t = this.fresh.get(id);
    if (!t) return;
    this.fresh.delete(id);
    const uses = this.freshUses.get(t)! - 1;
    if (uses === 0) this.freshUses.delete(t);
    else this.freshUses.set(t, uses);
  }
}

/**
 * Run `f` (a tf.variableGrads / tf.grads call) so that its backward pass frees
 * each intermediate gradient once the node that consumes it is done. tfjs
 * keeps every one of them until gradients() returns: for a base detector at
 * 1024² that is over a gigabyte (the gradient of every encoder block's
 * output, of every pyramid map, of every head activation), enough to exhaust
 * wasm's 4 GB heap. Gradients are unchanged; only their lifetime is.
 *
 * It works by wrapping, for the duration of `f`, the gradient function of
 * every tape node tfjs records: tfjs runs a node's gradient function and then
 * all of its input-gradient thunks before moving to the next node, so when a
 * node's step begins, the previous node's output gradients (and any input
 * gradient tfjs has since added into an accumulated one) are garbage. Each
 * tape (nested gradient computations inside checkpointed steps record their
 * own) has its own bookkeeping.
 */
export function releasingGradients<T>(f: () => T): T {
  const engine = tf.engine() as unknown as EngineInternals;
  const original = engine.addTapeNode;
  const perTape = new WeakMap<TapeNode[], TapeRelease>();
  engine.addTapeNode = function (this: EngineInternals, ...args: unknown[]) {
    original.apply(this, args);
    const tape = this.state.activeTape;
    const node = tape?.[tape.length - 1];
    const gradient = node?.gradient;
    if (!tape || !node || !gradient) return;
    let release = perTape.get(tape);
    if (!release) perTape.set(tape, (release = new TapeRelease()));
    const r = release;
    node.gradient = (dys) => {
      r.startNode(node, dys);
      const thunks = gradient(dys);
      const wrapped: Record<string, () => Tensor> = {};
      for (const [name, thunk] of Object.entries(thunks)) {
        wrapped[name] = () => {
          const dx = thunk();
          const x = node.inputs[name];
          if (x) r.returned(x, dx);
          return dx;
        };
      }
      return wrapped;
    };
  };
  try {
    return f();
  } finally {
    engine.addTapeNode = original;
  }
}
