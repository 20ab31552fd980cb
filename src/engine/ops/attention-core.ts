import { tf, type Tensor } from '../tf.js';
import { withGradient } from './custom-grad.js';
import { relPosBias } from './rel-pos.js';

/** Decomposed relative-position terms: relH [N, qh, qw, kh], relW [N, qh, qw, kw]. */
export interface RelPosTerms {
  relH: Tensor;
  relW: Tensor;
}

export interface AttentionCoreOptions {
  /**
   * (sequence, head) pairs per chunk. Each chunk materialises its [c, L, L]
   * scores once in the forward and a few times in the backward; nothing
   * larger is ever held. 1 = one head at a time, which on wasm also sends the
   * matmuls through the fast 2-D kernel.
   */
  chunk: number;
}

/** Elements of [L, L] scores per chunk when chunking by budget (64 MB of float32). */
const SCORE_BUDGET = 16 * 2 ** 20;

/** Chunk size: one head at a time for long sequences, otherwise as many as fit the budget. */
export function attentionChunk(n: number, l: number, perHeadMinTokens: number): number {
  if (l >= perHeadMinTokens) return 1;
  return Math.max(1, Math.min(n, Math.floor(SCORE_BUDGET / (l * l))));
}

function rows(t: Tensor, start: number, count: number): Tensor {
  return t.shape[0] === count && start === 0 ? t : t.slice([start, ...t.shape.slice(1).map(() => 0)], [count, ...t.shape.slice(1)]);
}

/** softmax(qs·kT + bias) for one chunk. */
function probabilities(qs: Tensor, kT: Tensor, rel?: RelPosTerms): Tensor {
  // The [c, L, L] intermediates are freed as soon as used, unless a gradient
  // tape holds them (attentionCore's forward and recomputation run untaped).
  const free = !tapeIsRecording();
  let s = tf.matMul(qs as tf.Tensor3D, kT as tf.Tensor3D);
  if (rel) {
    const biased = tf.tidy(() => tf.add(s, relPosBias(rel.relH, rel.relW)));
    if (free) s.dispose();
    s = biased;
  }
  const p = tf.softmax(s, -1);
  if (free) s.dispose();
  return p;
}

/** Whether tfjs is recording ops for a gradient (then intermediates must live on). */
function tapeIsRecording(): boolean {
  return (tf.engine() as unknown as { isTapeOn(): boolean }).isTapeOn();
}

/**
 * Scaled dot-product attention softmax(qs·kT + bias)·v over [N, L, d]
 * (qs already scaled, kT [N, d, L]), with decomposed relative-position
 * bias when given, computed chunk by chunk.
 *
 * The gradient recomputes each chunk's probabilities instead of keeping
 * them: autodiff would hold every [L, L] score, softmax and their
 * gradients at once (2.4 GB per global block of a base model at 1024²,
 * beyond wasm's 4 GB heap). The backward per chunk is
 *   P = softmax(S), dV = Pᵀ·dO, dP = dO·vᵀ, dS = P ⊙ (dP − rowsum(dO ⊙ O)),
 *   dqs = dS·k, dkT = qsᵀ·dS, dRelH = Σ_kx dS, dRelW = Σ_ky dS,
 * with every transpose explicit (wasm's matmul is ~10x slower with
 * transpose flags).
 */
export function attentionCore(qs: Tensor, kT: Tensor, v: Tensor, rel: RelPosTerms | undefined, o: AttentionCoreOptions): Tensor {
  const n = qs.shape[0]!;
  const chunk = Math.max(1, Math.min(n, o.chunk));
  const inputs = rel ? [qs, kT, v, rel.relH, rel.relW] : [qs, kT, v];
  return withGradient(inputs, (xs, save) => {
    const [q0, k0, v0, rh0, rw0] = xs as [Tensor, Tensor, Tensor, Tensor?, Tensor?];
    const relOf = (start: number, count: number) => (rh0 && rw0 ? { relH: rows(rh0, start, count), relW: rows(rw0, start, count) } : undefined);
    const outs: Tensor[] = [];
    for (let s = 0; s < n; s += chunk) {
      const c = Math.min(chunk, n - s);
      outs.push(tf.tidy(() => tf.matMul(probabilities(rows(q0, s, c), rows(k0, s, c), relOf(s, c)) as tf.Tensor3D, rows(v0, s, c) as tf.Tensor3D)));
    }
    const out = outs.length === 1 ? outs[0]! : tf.concat(outs, 0);
    save([...xs, out]);
    return {
      value: out,
      gradFunc: (dy, saved) => {
        const [q, k, vv, rh, rw] = saved.slice(0, inputs.length) as [Tensor, Tensor, Tensor, Tensor?, Tensor?];
        const out = saved[inputs.length]!;
        const parts: Tensor[][] = [];
        for (let s = 0; s < n; s += chunk) {
          const c = Math.min(chunk, n - s);
          parts.push(
            tf.tidy(() => {
              const qc = rows(q, s, c) as tf.Tensor3D;
              const kc = rows(k, s, c) as tf.Tensor3D;
              const vc = rows(vv, s, c) as tf.Tensor3D;
              const dOc = rows(dy, s, c) as tf.Tensor3D;
              const relc = rh && rw ? { relH: rows(rh, s, c), relW: rows(rw, s, c) } : undefined;
              // The [c, L, L] matrices (64 MB per head for global attention at
              // 1024²) are freed as soon as they are used, so at most three
              // exist at once rather than every one of them until the tidy ends.
              const p = probabilities(qc, kc, relc) as tf.Tensor3D;
              const pT = p.transpose([0, 2, 1]) as tf.Tensor3D;
              const dv = tf.matMul(pT, dOc);
              pT.dispose();
              const dp = tf.matMul(dOc, vc.transpose([0, 2, 1]));
              const rowDot = tf.sum(tf.mul(dOc, rows(out, s, c)), -1, true);
              const centred = tf.sub(dp, rowDot);
              dp.dispose();
              const ds = tf.mul(p, centred) as tf.Tensor3D;
              p.dispose();
              centred.dispose();
              const dq = tf.matMul(ds, kc.transpose([0, 2, 1]));
              const dk = tf.matMul(qc.transpose([0, 2, 1]), ds);
              const grads = [dq, dk, dv];
              if (relc) {
                const [, qh, qw, kh] = relc.relH.shape as [number, number, number, number];
                const kw = relc.relW.shape[3]!;
                const ds5 = ds.reshape([c, qh, qw, kh, kw]);
                grads.push(tf.sum(ds5, 4), tf.sum(ds5, 3));
              }
              return grads;
            }),
          );
        }
        const cat = (i: number) => (parts.length === 1 ? parts[0]![i]! : tf.concat(parts.map((p) => p[i]!), 0));
        return inputs.map((_, i) => cat(i));
      },
    };
  });
}
