import { readdirSync, statSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import type { Coco } from '@densekit/eval';
import { DensekitError } from '../util/errors.js';

const IMAGE_EXT = new Set(['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff', '.bmp', '.gif']);

/**
 * Image files named on the command line: folders are listed (their image
 * files, not recursively), files are kept as given. A path that does not
 * exist is refused before any work: it is a mistake in the command, not an
 * unreadable image. The same file named twice (`a/x.jpg`, `./a/x.jpg`, or
 * by itself and through its folder) is listed once.
 */
export function listImages(paths: string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const add = (file: string) => {
    const key = resolve(file);
    if (seen.has(key)) return;
    seen.add(key);
    out.push(file);
  };
  for (const p of paths) {
    let st;
    try {
      st = statSync(p);
    } catch (err) {
      throw new DensekitError(`no such image file or folder (${(err as NodeJS.ErrnoException).code ?? 'cannot stat'})`, { file: p });
    }
    if (st.isDirectory()) {
      for (const f of readdirSync(p).sort()) if (IMAGE_EXT.has(extname(f).toLowerCase())) add(join(p, f));
    } else add(p);
  }
  return out;
}

/** An image file and the image id its results carry. */
export interface ImageInput {
  file: string;
  imageId: number;
}

/** An image input and, for messages, where its id came from. */
interface SourcedInput extends ImageInput {
  source: string;
}

/** A path's components, without empty ones and `.` (a `/` or a `\` separates them). */
function components(path: string): string[] {
  return path.split(/[\\/]+/).filter((c) => c !== '' && c !== '.');
}

/** How many trailing path components two paths share. */
function commonSuffix(a: string[], b: string[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[a.length - 1 - n] === b[b.length - 1 - n]) n++;
  return n;
}

/** A GT image entry as matched against files. */
interface GtImage {
  id: number;
  fileName: string;
  parts: string[];
}

/**
 * The GT image a file is: among the GT images with the file's base name,
 * the one whose `file_name` shares the longest trailing run of path
 * components with the file's path (`val/cam1/0001.jpg` is `cam1/0001.jpg`,
 * not `cam2/0001.jpg`). A tie is refused, naming the candidates.
 */
function gtImageOf(file: string, byName: Map<string, GtImage[]>, gtSource: string): GtImage {
  const parts = components(resolve(file));
  const name = basename(file);
  const candidates = byName.get(name);
  if (!candidates) throw new DensekitError(`image ${name} (${file}) is not listed in the GT file's images`, { file: gtSource });
  let best: GtImage[] = [];
  let bestLength = 0;
  for (const c of candidates) {
    const n = commonSuffix(parts, c.parts);
    if (n > bestLength) {
      best = [c];
      bestLength = n;
    } else if (n === bestLength) best.push(c);
  }
  if (best.length > 1) {
    const listed = best.map((c) => `"${c.fileName}" (id ${c.id})`).join(', ');
    throw new DensekitError(`image ${file} matches ${best.length} GT images equally well: ${listed}; give the images under folders that tell them apart`, { file: gtSource });
  }
  return best[0]!;
}

/**
 * Refuse two different files with one image id, naming both: their results
 * would be merged under one id (and evaluated against one image's GT).
 */
export function refuseIdCollisions(inputs: readonly (ImageInput & { source?: string })[], hint = ''): void {
  const byId = new Map<number, ImageInput & { source?: string }>();
  for (const x of inputs) {
    const other = byId.get(x.imageId);
    if (other === undefined) {
      byId.set(x.imageId, x);
      continue;
    }
    const how = (y: { source?: string }) => (y.source ? ` (${y.source})` : '');
    throw new DensekitError(`image ids collide: ${other.file}${how(other)} and ${x.file}${how(x)} would both be image id ${x.imageId}${hint ? `: ${hint}` : ''}`);
  }
}

/**
 * Refuse two different files whose outputs would have one name (a
 * segmenter's label map is named after its image, without the folder):
 * the second would overwrite the first. Names both files and the output.
 */
export function refuseOutputCollisions(files: readonly string[], outputOf: (file: string) => string, hint = ''): void {
  const byOutput = new Map<string, string>();
  for (const file of files) {
    const name = outputOf(file);
    const other = byOutput.get(name);
    if (other === undefined) {
      byOutput.set(name, file);
      continue;
    }
    throw new DensekitError(`outputs collide: ${other} and ${file} would both write ${name}${hint ? `: ${hint}` : ''}`);
  }
}

/** Refuse outputs that would overwrite an input image (an output folder that holds the images). */
export function refuseOverwritingInputs(files: readonly string[], outputs: readonly string[]): void {
  const inputs = new Set(files.map((f) => resolve(f)));
  for (const o of outputs) {
    if (inputs.has(resolve(o))) throw new DensekitError('is one of the input images: the output would overwrite it (give another -o)', { file: o });
  }
}

/**
 * image_id per file, each file a different id. With a GT file: the id of
 * the GT image the file is (matched by name, then by the folders above it).
 * Without: the number in the file's name (COCO's `000000000139.jpg` is
 * 139), else its position in the list (1-based). Files that would share an
 * id — the same name in two folders — are refused before any work, naming
 * both.
 */
export function imageIds(files: string[], gt?: Coco): ImageInput[] {
  let inputs: SourcedInput[];
  let hint: string;
  if (gt) {
    const byName = new Map<string, GtImage[]>();
    for (const im of gt.dataset.images) {
      if (typeof im.file_name !== 'string') continue;
      const entry = { id: im.id, fileName: im.file_name, parts: components(im.file_name) };
      const name = entry.parts[entry.parts.length - 1] ?? '';
      const list = byName.get(name);
      if (list) list.push(entry);
      else byName.set(name, [entry]);
    }
    inputs = files.map((file) => {
      const g = gtImageOf(file, byName, gt.source);
      return { file, imageId: g.id, source: `GT file_name "${g.fileName}"` };
    });
    hint = `the GT file (${gt.source}) has one image for both; give its file_name entries the folders that tell them apart (e.g. cam1/0001.jpg), or predict each folder on its own`;
  } else {
    inputs = files.map((file, i) => {
      const name = basename(file);
      const m = /(\d+)/.exec(name.replace(extname(name), ''));
      return m ? { file, imageId: Number(m[1]), source: 'the number in its name' } : { file, imageId: i + 1, source: 'its position in the sorted list' };
    });
    hint = 'predict each folder on its own, or give --gt with a COCO file whose images (file_name with their folders, e.g. cam1/0001.jpg) give each file its id';
  }
  refuseIdCollisions(inputs, hint);
  return inputs.map(({ file, imageId }) => ({ file, imageId }));
}

function globRegex(segment: string): RegExp {
  let re = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const close = segment.indexOf(']', i + 1);
      if (close < 0) re += '\\[';
      else {
        const body = segment.slice(i + 1, close).replace(/\\/g, '\\\\');
        re += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
        i = close;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

const WILDCARD = /[*?[]/;

/** Whether a path matches a wildcard pattern segment by segment (as `expandGlobs` expands it). */
export function matchesGlob(pattern: string, path: string): boolean {
  const ps = pattern.split('/');
  const xs = path.split('/');
  return ps.length === xs.length && ps.every((seg, i) => globRegex(seg).test(xs[i]!));
}

/**
 * File names with shell wildcards expanded (`*`, `?`, `[abc]`, `[!abc]` in
 * any path segment; `**` is not special), for commands given a quoted
 * pattern or run without a shell (a Kubernetes container's args). Each
 * pattern's matches are sorted; a name without wildcards is kept as is; a
 * pattern matching nothing is an error naming it. Hidden files match only
 * a pattern segment that starts with a dot.
 */
export function expandGlobs(patterns: string[]): string[] {
  const out: string[] = [];
  for (const pattern of patterns) {
    if (!WILDCARD.test(pattern)) {
      out.push(pattern);
      continue;
    }
    const absolute = pattern.startsWith('/');
    const segments = pattern.split('/').filter((s, i) => s !== '' || i === 0);
    let bases = [absolute ? '/' : '.'];
    segments.forEach((seg, i) => {
      if (seg === '' && i === 0) return;
      const last = i === segments.length - 1;
      const next: string[] = [];
      for (const base of bases) {
        if (!WILDCARD.test(seg)) {
          next.push(base === '.' && !absolute ? seg : join(base, seg));
          continue;
        }
        let names: string[];
        try {
          names = readdirSync(base).sort();
        } catch {
          continue;
        }
        const re = globRegex(seg);
        for (const n of names) {
          if (n.startsWith('.') && !seg.startsWith('.')) continue;
          if (!re.test(n)) continue;
          const p = base === '.' && !absolute ? n : join(base, n);
          if (!last) {
            try {
              if (!statSync(p).isDirectory()) continue;
            } catch {
              continue;
            }
          }
          next.push(p);
        }
      }
      bases = next;
    });
    const matches = bases.filter((p) => {
      try {
        statSync(p);
        return true;
      } catch {
        return false;
      }
    });
    if (matches.length === 0) throw new DensekitError('no file matches this pattern', { file: pattern });
    out.push(...matches.sort());
  }
  return out;
}
