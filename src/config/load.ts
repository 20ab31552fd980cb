import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { DensekitError } from '../util/errors.js';
import { configSchema, stageSchema, type DataConfig, type DatasetConfig, type DensekitConfig, type StageConfig } from './schema.js';
import { isOverride, isPlainObject, mergeInto, OVERRIDE_PREFIX, recordSet, setPath, sourceOf, type Plain, type PlainObject, type Provenance } from './merge.js';

/** A loaded config: validated values, plus the raw merged tree and where each key came from. */
export interface LoadedConfig {
  config: DensekitConfig;
  /** The merged tree before defaults were applied (what the files and overrides said). */
  raw: PlainObject;
  /** The top-level file. */
  file: string;
  /** Every file read, bases first. */
  files: string[];
  provenance: Provenance;
}

function readYaml(file: string, from?: string): PlainObject {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new DensekitError(from ? `cannot read _base_ file ${file} (${code})` : `cannot read (${code})`, { file: from ?? file, key: from ? '_base_' : undefined });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    const pos = err instanceof YAMLParseError && err.linePos ? ` at line ${err.linePos[0].line}` : '';
    throw new DensekitError(`invalid YAML${pos}: ${(err as Error).message.split('\n')[0]}`, { file });
  }
  if (doc === null || doc === undefined) return {};
  if (!isPlainObject(doc)) throw new DensekitError('a config must be a YAML mapping', { file });
  return doc as PlainObject;
}

/** Read `file` and its `_base_` chain, merged depth-first (bases first, in list order). */
function readMerged(file: string, prov: Provenance, files: string[], chain: string[] = [], from?: string): PlainObject {
  const abs = resolve(file);
  if (chain.includes(abs)) throw new DensekitError(`_base_ cycle: ${[...chain, abs].join(' -> ')}`, { file: abs, key: '_base_' });
  const doc = readYaml(abs, from);
  files.push(abs);
  const bases = doc._base_;
  let merged: PlainObject = {};
  if (bases !== undefined) {
    const list = typeof bases === 'string' ? [bases] : bases;
    if (!Array.isArray(list) || !list.every((b) => typeof b === 'string')) {
      throw new DensekitError('_base_ must be a file name or a list of file names', { file: abs, key: '_base_' });
    }
    for (const b of list as string[]) {
      const baseTree = readMerged(resolve(dirname(abs), b), prov, files, [...chain, abs], abs);
      merged = mergeInto(merged, baseTree, abs, new Map(), '');
    }
  }
  const { _base_: _, ...body } = doc;
  return mergeInto(merged, body, abs, prov);
}

/** Parse `a.b.c=value` (value as YAML, so numbers, lists and null work). */
export function parseOverride(spec: string): [string, Plain] {
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new DensekitError(`--set ${spec}: expected key.path=value`);
  const key = spec.slice(0, eq).trim();
  if (!/^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/.test(key)) throw new DensekitError(`--set ${spec}: "${key}" is not a dotted key path`);
  // Object internals are never config keys: setting one would change the object, not a setting.
  const internal = key.split('.').find((k) => k === '__proto__' || k === 'constructor' || k === 'prototype');
  if (internal) throw new DensekitError(`--set ${spec}: "${internal}" is not a config key`);
  let value: Plain;
  try {
    value = parseYaml(spec.slice(eq + 1)) as Plain;
  } catch (err) {
    throw new DensekitError(`--set ${spec}: value is not valid YAML (${(err as Error).message.split('\n')[0]})`);
  }
  return [key, value ?? null];
}

/**
 * Data paths as the commands use them: a relative path is taken under
 * `data.root`, and that against the working directory (mmdetection's and
 * detectron2's convention), so the loaded config — and the `config.yaml` a
 * run writes — names absolute paths.
 */
export function resolveDataPaths<C extends { data: DataConfig }>(config: C, cwd = process.cwd()): C {
  const root = resolve(cwd, config.data.root);
  const split = (d: DatasetConfig | null) => (d ? { ...d, images: resolve(root, d.images), annotations: resolve(root, d.annotations) } : d);
  return { ...config, data: { ...config.data, train: split(config.data.train), val: split(config.data.val) } };
}

/** The other keys a cross-field rule's issue names (`params.fields`, see configInvariants). */
function relatedKeys(issue: z.core.$ZodIssue): string[] {
  const fields = (issue as { params?: { fields?: unknown } }).params?.fields;
  return Array.isArray(fields) ? fields.filter((f): f is string => typeof f === 'string') : [];
}

/**
 * What a validation issue is blamed on: the file or `--set` that set its
 * key. A rule that ties keys together is blamed on a `--set` of any of its
 * keys first: the files alone did not break it, the override did.
 */
function blame(path: string, related: string[], prov: Provenance, fallbackFile: string): string {
  for (const key of [path, ...related]) {
    const source = sourceOf(key, prov, fallbackFile);
    if (isOverride(source)) return source;
  }
  return sourceOf(path, prov, fallbackFile);
}

/**
 * Validate a merged tree; the first problem is thrown naming its key and
 * what set it (a file, or the `--set` option with its value). `where`
 * prefixes the key in the message (a stage: `stages.<name>.`).
 */
function validate<S extends z.ZodType>(schema: S, raw: PlainObject, prov: Provenance, fallbackFile: string, where = ''): z.infer<S> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data as z.infer<S>;
  const issue = result.error.issues[0]!;
  let path = issue.path.map(String).join('.');
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') {
    const keys = (issue as { keys: string[] }).keys;
    path = path ? `${path}.${keys[0]}` : keys[0]!;
    message = `unknown key${keys.length > 1 ? `s ${keys.join(', ')}` : ''}`;
  }
  const more = result.error.issues.length > 1 ? ` (and ${result.error.issues.length - 1} more problem${result.error.issues.length > 2 ? 's' : ''})` : '';
  throw new DensekitError(`${message}${more}`, { file: blame(path, relatedKeys(issue), prov, fallbackFile), key: `${where}${path}` });
}

/**
 * Load a config file: resolve `_base_`, apply `--set` overrides, validate.
 * Errors name the file that set the bad key and the key path.
 */
export function loadConfig(file: string, overrides: string[] = []): LoadedConfig {
  const prov: Provenance = new Map();
  const files: string[] = [];
  const abs = resolve(file);
  let raw = readMerged(abs, prov, files);
  for (const spec of overrides) {
    const [key, value] = parseOverride(spec);
    raw = setPath(raw, key, value);
    recordSet(value, key, `${OVERRIDE_PREFIX}${spec.trim()}`, prov);
  }
  const config = resolveDataPaths(validate(configSchema, raw, prov, abs));
  return { config, raw, file: abs, files, provenance: prov };
}

/** Names of the stages of a staged recipe, in order. */
export function stageNames(loaded: LoadedConfig): string[] {
  return loaded.config.stages.map((s) => s.name);
}

/**
 * The effective config of one stage: the top-level config (without
 * `stages`) with the stage's own entries merged in, validated.
 */
export function resolveStage(loaded: LoadedConfig, name: string): StageConfig {
  const idx = loaded.config.stages.findIndex((s) => s.name === name);
  if (idx < 0) throw new DensekitError(`no stage named "${name}" (stages: ${stageNames(loaded).join(', ') || 'none'})`, { file: loaded.file, key: 'stages' });
  const { stages: rawStages, ...top } = loaded.raw;
  const stageRaw = (rawStages as PlainObject[])[idx]!;
  const prov = new Map(loaded.provenance);
  const merged = mergeInto(top, stageRaw, loaded.file, prov);
  return resolveDataPaths(validate(stageSchema, merged, prov, loaded.file, `stages.${name}.`));
}

/** The config as YAML, defaults filled in. */
export function dumpConfig(config: unknown): string {
  return stringifyYaml(config, { lineWidth: 0 });
}
