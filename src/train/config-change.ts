/**
 * What a resume may change in a run's config. A resumed run continues the
 * stored trajectory (the sequence of weights the run goes through) exactly,
 * so a changed key that alters that trajectory is refused unless asked for.
 *
 * Keys that do not alter it, and may change freely:
 *  - output_dir: where the run is, not what it computes;
 *  - train.log_period, train.checkpoint_period: how often the run reports
 *    and saves (a checkpoint restores the state exactly);
 *  - train.eval_period, data.val, model.test, input.test_size: evaluation
 *    only (it runs in inference mode: it draws no random numbers and
 *    updates nothing);
 *  - data.prefetch: how far the loader reads ahead, not what it hands out;
 *  - data.root: the data paths are resolved against it when the config
 *    loads, and the resolved paths are compared;
 *  - train.load_from, model.backbone.pretrained: starting weights, which a
 *    resume replaces with the checkpoint's.
 * Everything else alters it: the model (shapes, depth, drop path …), the
 * input pipeline (sizes, augmentation), the training data, and train.*
 * (lr, batch, accumulation, seed, max_iter, schedule, clipping …).
 */
export const TRAJECTORY_NEUTRAL_KEYS: readonly string[] = [
  'output_dir',
  'train.log_period',
  'train.checkpoint_period',
  'train.eval_period',
  'data.val',
  'model.test',
  'input.test_size',
  'data.prefetch',
  'data.root',
  'train.load_from',
  'model.backbone.pretrained',
];

/** One changed key: its dotted path and its values (undefined where absent). */
export interface ConfigChange {
  key: string;
  before: unknown;
  after: unknown;
}

/** Leaf values of a config by dotted path (lists are leaves: they change as a whole). */
function leaves(value: unknown, prefix = '', out = new Map<string, unknown>()): Map<string, unknown> {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) leaves(v, prefix ? `${prefix}.${k}` : k, out);
  } else out.set(prefix, value);
  return out;
}

function isNeutral(key: string): boolean {
  return TRAJECTORY_NEUTRAL_KEYS.some((n) => key === n || key.startsWith(`${n}.`));
}

/** Every key whose value differs between two configs (as JSON values), in the new config's key order. */
export function configChanges(before: unknown, after: unknown): ConfigChange[] {
  const a = leaves(JSON.parse(JSON.stringify(before)) as unknown);
  const b = leaves(JSON.parse(JSON.stringify(after)) as unknown);
  const keys = [...new Set([...b.keys(), ...a.keys()])];
  return keys.filter((k) => JSON.stringify(a.get(k)) !== JSON.stringify(b.get(k))).map((key) => ({ key, before: a.get(key), after: b.get(key) }));
}

/** The changes between two configs, split into those that alter the training trajectory and those that do not. */
export function classifyChanges(before: unknown, after: unknown): { altering: ConfigChange[]; neutral: ConfigChange[] } {
  const all = configChanges(before, after);
  return { altering: all.filter((c) => !isNeutral(c.key)), neutral: all.filter((c) => isNeutral(c.key)) };
}

/** `key old → new` for each change, the first `max` of them, then how many more. */
export function describeChanges(changes: readonly ConfigChange[], max = 10): string {
  const show = (v: unknown) => (v === undefined ? '(absent)' : JSON.stringify(v));
  const listed = changes.slice(0, max).map((c) => `${c.key} ${show(c.before)} → ${show(c.after)}`);
  const more = changes.length > max ? `, and ${changes.length - max} more` : '';
  return `${listed.join(', ')}${more}`;
}
