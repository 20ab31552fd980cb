import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, extname, resolve } from 'node:path';
import { DensekitError } from '../util/errors.js';
import { ADE20K_CLASSES } from './ade20k-classes.js';

/**
 * The names of a data set's classes, found the same way by every command
 * (eval tables, overlays, galleries), in this order:
 *
 * 1. a file the user names (`--classes FILE`);
 * 2. the names that travel with the data: a COCO ground truth's
 *    `categories`, else a `classes.json` at the data set's root (in one of
 *    its folders or up to two folders above, as `densekit data synth` and
 *    the ADE20K layout `<root>/annotations/<split>` place it);
 * 3. ADE20K's 150 names, for label maps of ADE20K itself: data inside its
 *    release folder `ADEChallengeData2016`;
 * 4. nothing: classes are shown as `class <id>`.
 *
 * A classes file is JSON, either a list of names (class id = position) or
 * an object with COCO's `categories: [{id, name}]` (so any COCO annotation
 * file serves), or a text file (`.txt`) with one name per line.
 */

/** The file a data set's class names travel in, at its root. */
export const CLASSES_FILE = 'classes.json';

/** The folder ADE20K's release unpacks to (mmseg: data/ade/ADEChallengeData2016). */
export const ADE20K_RELEASE_FOLDER = 'ADEChallengeData2016';

/** How far above a data folder the data set's root may be (`<root>/annotations/<split>`). */
const ROOT_LEVELS = 2;

/** Class names by class id (a label map's value, or a COCO category id). */
export interface ClassNames {
  readonly byId: ReadonlyMap<number, string>;
  /** Where the names came from, for messages; undefined when nothing named the classes. */
  readonly source?: string;
}

export interface CategoryName {
  id: number;
  name: string;
}

/** What a command knows about its data, from which its class names are resolved. */
export interface ClassNameInputs {
  /** A classes file named by the user (`--classes`): wins over everything. */
  file?: string;
  /** A COCO ground truth's categories (instances), and the file they are from. */
  categories?: readonly CategoryName[];
  categoriesSource?: string;
  /** The data's folders (images, annotations), searched in order for the data set's own `classes.json`. */
  dataDirs?: readonly (string | undefined)[];
  /** Label maps (semantic data): ADE20K's names apply when the data is ADE20K's release. */
  labelMaps?: boolean;
  /** Label maps: how many classes there are; names read from a file must name exactly 0..count-1. */
  count?: number;
  /** Where `count` comes from, for the error when names do not fit it (e.g. `--num-classes`). */
  countSource?: string;
}

export const NO_CLASS_NAMES: ClassNames = { byId: new Map() };

/** A class's name, or `class <id>` when nothing names it. */
export function className(names: ClassNames, id: number): string {
  return names.byId.get(id) ?? `class ${id}`;
}

/** Names listed by class id 0, 1, … as a ClassNames. */
export function namesFromList(list: readonly string[], source?: string): ClassNames {
  return { byId: new Map(list.map((n, i) => [i, n])), source };
}

function fromCategories(cats: readonly unknown[], file: string): Map<number, string> {
  const byId = new Map<number, string>();
  cats.forEach((c, i) => {
    const key = `categories[${i}]`;
    if (typeof c !== 'object' || c === null) throw new DensekitError('must be an object {id, name}', { file, key });
    const { id, name } = c as { id?: unknown; name?: unknown };
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) throw new DensekitError('must be a non-negative integer', { file, key: `${key}.id` });
    if (typeof name !== 'string' || name.trim() === '') throw new DensekitError('must be a non-empty string', { file, key: `${key}.name` });
    if (byId.has(id)) throw new DensekitError(`category id ${id} is listed twice`, { file, key: `${key}.id` });
    byId.set(id, name);
  });
  return byId;
}

function fromList(list: readonly unknown[], file: string): Map<number, string> {
  list.forEach((n, i) => {
    if (typeof n !== 'string' || n.trim() === '') throw new DensekitError('must be a class name (a non-empty string)', { file, index: i });
  });
  return new Map((list as string[]).map((n, i) => [i, n]));
}

function fromText(text: string, file: string): Map<number, string> {
  const lines = text.replace(/\r\n?/g, '\n').replace(/\n+$/, '').split('\n');
  lines.forEach((l, i) => {
    if (l.trim() === '') throw new DensekitError(`line ${i + 1} is empty (one class name per line, class id = line number - 1)`, { file });
  });
  return new Map(lines.map((l, i) => [i, l.trim()]));
}

/** Read a classes file (see the module's comment). Errors name the file and the entry. */
export function readClassesFile(file: string): ClassNames {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DensekitError(code === 'ENOENT' ? 'classes file not found' : `cannot read classes file (${code})`, { file });
  }
  let byId: Map<number, string>;
  if (extname(file).toLowerCase() === '.txt') byId = fromText(text, file);
  else {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new DensekitError(`not valid JSON (${(err as Error).message}); a classes file is a JSON list of names, COCO's {"categories": [{id, name}]}, or a .txt file with a name per line`, { file });
    }
    if (Array.isArray(json)) byId = fromList(json, file);
    else if (typeof json === 'object' && json !== null && Array.isArray((json as { categories?: unknown }).categories)) byId = fromCategories((json as { categories: unknown[] }).categories, file);
    else throw new DensekitError('expected a list of class names or an object with "categories": [{id, name}]', { file });
  }
  if (byId.size === 0) throw new DensekitError('names no classes', { file });
  return { byId, source: file };
}

/** The folder and up to ROOT_LEVELS folders above it. */
function rootCandidates(dir: string): string[] {
  const out = [resolve(dir)];
  for (let i = 0; i < ROOT_LEVELS; i++) {
    const up = dirname(out.at(-1)!);
    if (up === out.at(-1)) break;
    out.push(up);
  }
  return out;
}

/** The data set's own classes file: the first `classes.json` in one of `dirs` or up to two folders above it. */
export function findClassesFile(dirs: readonly (string | undefined)[]): string | undefined {
  for (const d of dirs) {
    if (d === undefined) continue;
    for (const c of rootCandidates(d)) {
      const f = resolve(c, CLASSES_FILE);
      if (existsSync(f) && statSync(f).isFile()) return f;
    }
  }
  return undefined;
}

/** Whether the data lies inside ADE20K's release folder. */
export function isAde20kRelease(dirs: readonly (string | undefined)[]): boolean {
  return dirs.some((d) => d !== undefined && rootCandidates(d).some((c) => basename(c) === ADE20K_RELEASE_FOLDER));
}

/**
 * Label maps name classes 0..count-1: names that do not fit them would put
 * a wrong name on every row, so they are refused, naming where they came from.
 */
export function checkClassCount(names: ClassNames, count: number, countSource: string): void {
  if (names.source === undefined) return;
  const ids = [...names.byId.keys()];
  const fits = ids.length === count && ids.every((id) => id >= 0 && id < count);
  if (!fits) {
    const range = ids.length ? ` (ids ${Math.min(...ids)}..${Math.max(...ids)})` : '';
    throw new DensekitError(`names ${ids.length} classes${range}, but there are ${count} (${countSource}); the names must be of classes 0..${count - 1}`, { file: names.source });
  }
}

/** The class names of a data set, by the order of precedence in this module's comment. */
export function resolveClassNames(i: ClassNameInputs): ClassNames {
  const dirs = i.dataDirs ?? [];
  let names: ClassNames | undefined;
  if (i.file !== undefined) names = readClassesFile(i.file);
  else if (i.categories !== undefined && i.categories.length > 0) {
    return { byId: new Map(i.categories.map((c) => [c.id, c.name])), source: i.categoriesSource ?? 'the ground truth categories' };
  } else {
    const found = findClassesFile(dirs);
    if (found) names = readClassesFile(found);
  }
  if (names) {
    if (i.labelMaps && i.count !== undefined) checkClassCount(names, i.count, i.countSource ?? 'the number of classes');
    return names;
  }
  if (i.labelMaps && (i.count === undefined || i.count === ADE20K_CLASSES.length) && isAde20kRelease(dirs)) {
    return namesFromList(ADE20K_CLASSES, `ADE20K (data in ${ADE20K_RELEASE_FOLDER})`);
  }
  return NO_CLASS_NAMES;
}

/** A note for when nothing named the classes: where names were looked for, and how to give them. */
export function noClassNamesNote(dirs: readonly (string | undefined)[]): string {
  const where = dirs.filter((d): d is string => d !== undefined);
  const looked = where.length ? ` (no ${CLASSES_FILE} in ${where.join(', ')} or up to ${ROOT_LEVELS} folders above)` : '';
  return `no class names found${looked}; classes are shown by id: pass --classes FILE to name them`;
}
