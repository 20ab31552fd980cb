/**
 * Config merging with provenance: every key path remembers the file that
 * set it last, so a validation error can name the file the bad value came
 * from, not just the top-level config.
 */

export type Plain = null | boolean | number | string | Plain[] | { [k: string]: Plain };
export type PlainObject = { [k: string]: Plain };

export function isPlainObject(v: unknown): v is PlainObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Key path → what set it: a file, or a `--set key=value` override (see
 * OVERRIDE_PREFIX). Paths are dotted (`model.rpn.nms_thresh`).
 */
export type Provenance = Map<string, string>;

/** How an override appears in provenance and in messages: the option as the user typed it. */
export const OVERRIDE_PREFIX = '--set ';

/** Whether a provenance entry is a `--set` override (not a file). */
export function isOverride(source: string): boolean {
  return source.startsWith(OVERRIDE_PREFIX);
}

function record(value: Plain, path: string, file: string, prov: Provenance): void {
  prov.set(path, file);
  if (isPlainObject(value)) for (const [k, v] of Object.entries(value)) record(v, path ? `${path}.${k}` : k, file, prov);
}

function forget(path: string, prov: Provenance): void {
  for (const k of [...prov.keys()]) if (k === path || k.startsWith(`${path}.`)) prov.delete(k);
}

/**
 * Merge `child` into `base` (a new object; inputs untouched): maps merge key
 * by key, lists and scalars replace. `_delete_: true` in a child map replaces
 * the base map wholesale (mmdetection's escape hatch).
 */
export function mergeInto(base: PlainObject, child: PlainObject, file: string, prov: Provenance, prefix = ''): PlainObject {
  const out: PlainObject = { ...base };
  const replaceAll = child._delete_ === true;
  if (replaceAll) {
    for (const k of Object.keys(out)) {
      forget(prefix ? `${prefix}.${k}` : k, prov);
      delete out[k];
    }
  }
  for (const [k, v] of Object.entries(child)) {
    if (k === '_delete_') continue;
    const path = prefix ? `${prefix}.${k}` : k;
    const b = out[k];
    if (isPlainObject(v) && isPlainObject(b) && v._delete_ !== true) {
      out[k] = mergeInto(b, v, file, prov, path);
      prov.set(path, prov.get(path) ?? file);
    } else {
      forget(path, prov);
      const clean = isPlainObject(v) ? stripDelete(v) : v;
      out[k] = clean;
      record(clean, path, file, prov);
    }
  }
  return out;
}

function stripDelete(v: PlainObject): PlainObject {
  const out: PlainObject = {};
  for (const [k, x] of Object.entries(v)) if (k !== '_delete_') out[k] = isPlainObject(x) ? stripDelete(x) : x;
  return out;
}

/**
 * Record that `source` set `value` at `path`: what was recorded under it
 * before (by a file) is forgotten, so an override of a whole map is what
 * every key inside it is blamed on.
 */
export function recordSet(value: Plain, path: string, source: string, prov: Provenance): void {
  forget(path, prov);
  record(value, path, source, prov);
}

/** Set `value` at dotted `path`, creating maps on the way. */
export function setPath(obj: PlainObject, path: string, value: Plain): PlainObject {
  const keys = path.split('.');
  const out: PlainObject = { ...obj };
  let cur = out;
  for (let i = 0; i < keys.length - 1; i++) {
    const k = keys[i]!;
    const next = cur[k];
    const copy: PlainObject = isPlainObject(next) ? { ...next } : {};
    cur[k] = copy;
    cur = copy;
  }
  cur[keys[keys.length - 1]!] = value;
  return out;
}

/** The file responsible for `path`: the deepest recorded prefix. */
export function sourceOf(path: string, prov: Provenance, fallback: string): string {
  let p = path;
  for (;;) {
    const f = prov.get(p);
    if (f) return f;
    const i = p.lastIndexOf('.');
    if (i < 0) return fallback;
    p = p.slice(0, i);
  }
}
