import { tf, type Tensor } from './tf.js';

/** Result of `Module.loadStateDict`: what did not line up, by name. */
export interface LoadReport {
  /** Parameters the module has that the state dict lacked. */
  missing: string[];
  /** Entries of the state dict the module has no parameter for. */
  unexpected: string[];
  /** Entries skipped because their shape differed (only with `skipMismatched`). */
  skipped: { name: string; expected: number[]; got: number[] }[];
}

export interface LoadOptions {
  /** Throw when anything is missing or unexpected (default true). */
  strict?: boolean;
  /** Skip entries whose shape differs instead of throwing (default false). */
  skipMismatched?: boolean;
}

/** A tensor a state dict may hold: a tfjs tensor, or host data with a shape. */
export type StateTensor = Tensor;

interface ParamEntry {
  variable: tf.Variable;
  /** Buffers (running statistics) are saved but not optimised. */
  isBuffer: boolean;
}

/**
 * Base class of every layer and model. Holds named parameters, buffers and
 * child modules; names are dotted paths (`blocks.3.attn.q_proj.weight`) and
 * are densekit's checkpoint format and the optimizer's grouping key.
 */
export abstract class Module {
  training = true;
  private readonly params = new Map<string, ParamEntry>();
  private readonly children = new Map<string, Module>();

  /** Register a trainable parameter initialised from `init` (which it takes ownership of). */
  protected param(name: string, init: Tensor): tf.Variable {
    this.assertFreeName(name);
    const v = tf.variable(init, true);
    init.dispose();
    this.params.set(name, { variable: v, isBuffer: false });
    return v;
  }

  /** Register a non-trainable tensor that is saved with the state (e.g. running stats). */
  protected buffer(name: string, init: Tensor): tf.Variable {
    this.assertFreeName(name);
    const v = tf.variable(init, false);
    init.dispose();
    this.params.set(name, { variable: v, isBuffer: true });
    return v;
  }

  /** Register a child module under `name`; returns it for assignment. */
  protected module<M extends Module>(name: string, m: M): M {
    this.assertFreeName(name);
    this.children.set(name, m);
    return m;
  }

  private assertFreeName(name: string): void {
    if (name.length === 0 || name.includes('.')) throw new Error(`invalid parameter/module name "${name}"`);
    if (this.params.has(name) || this.children.has(name)) throw new Error(`name "${name}" registered twice`);
  }

  /** Child modules, in registration order. */
  namedChildren(): [string, Module][] {
    return [...this.children.entries()];
  }

  /** All trainable parameters with their full dotted names. */
  namedParameters(prefix = ''): [string, tf.Variable][] {
    return this.namedEntries(prefix).filter(([, e]) => !e.isBuffer).map(([n, e]) => [n, e.variable]);
  }

  /** All buffers with their full dotted names. */
  namedBuffers(prefix = ''): [string, tf.Variable][] {
    return this.namedEntries(prefix).filter(([, e]) => e.isBuffer).map(([n, e]) => [n, e.variable]);
  }

  private namedEntries(prefix: string): [string, ParamEntry][] {
    const out: [string, ParamEntry][] = [];
    for (const [n, e] of this.params) out.push([prefix + n, e]);
    for (const [n, c] of this.children) out.push(...c.namedEntries(`${prefix}${n}.`));
    return out;
  }

  /** Parameters and buffers by name. The tensors are the live variables: do not dispose them. */
  stateDict(): Map<string, tf.Variable> {
    return new Map(this.namedEntries('').map(([n, e]) => [n, e.variable]));
  }

  /** Number of trainable scalars. */
  numParameters(): number {
    return this.namedParameters().reduce((s, [, v]) => s + v.size, 0);
  }

  /**
   * Copy values from `state` into this module's variables. Shapes must match
   * exactly unless `skipMismatched`; with `strict` (default) anything missing
   * or unexpected is an error listing every such name.
   */
  loadStateDict(state: Map<string, Tensor>, opts: LoadOptions = {}): LoadReport {
    const strict = opts.strict ?? true;
    const own = this.stateDict();
    const report: LoadReport = { missing: [], unexpected: [], skipped: [] };
    for (const name of own.keys()) if (!state.has(name)) report.missing.push(name);
    for (const name of state.keys()) if (!own.has(name)) report.unexpected.push(name);
    const mismatched: string[] = [];
    for (const [name, v] of own) {
      const t = state.get(name);
      if (!t) continue;
      if (!sameShape(v.shape, t.shape)) {
        if (opts.skipMismatched) report.skipped.push({ name, expected: [...v.shape], got: [...t.shape] });
        else mismatched.push(`${name}: expected [${v.shape}], got [${t.shape}]`);
      }
    }
    if (mismatched.length > 0) throw new Error(`shape mismatch loading state dict:\n  ${mismatched.join('\n  ')}`);
    if (strict && (report.missing.length > 0 || report.unexpected.length > 0)) {
      const lines = [
        ...report.missing.map((n) => `missing: ${n}`),
        ...report.unexpected.map((n) => `unexpected: ${n}`),
      ];
      throw new Error(`state dict does not match the model:\n  ${lines.join('\n  ')}`);
    }
    const skipped = new Set(report.skipped.map((s) => s.name));
    for (const [name, v] of own) {
      const t = state.get(name);
      if (!t || skipped.has(name)) continue;
      v.assign(t.dtype === v.dtype ? t : tf.cast(t, v.dtype));
    }
    return report;
  }

  /** Set training mode on this module and every descendant. */
  train(mode = true): this {
    this.training = mode;
    for (const c of this.children.values()) c.train(mode);
    return this;
  }

  /** Set evaluation mode (no dropout / drop path, frozen statistics). */
  eval(): this {
    return this.train(false);
  }

  /** Free every variable of this module tree. */
  dispose(): void {
    for (const e of this.params.values()) e.variable.dispose();
    for (const c of this.children.values()) c.dispose();
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** An ordered list of modules named 0, 1, 2, … (like torch.nn.ModuleList). */
export class ModuleList<M extends Module> extends Module {
  readonly items: M[];
  constructor(items: M[]) {
    super();
    this.items = items.map((m, i) => this.module(String(i), m));
  }
  get length(): number {
    return this.items.length;
  }
}
