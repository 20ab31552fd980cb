import { readdirSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import type { Coco } from '@densekit/eval';
import { DensekitError } from '../util/errors.js';

const IMAGE_EXT = new Set(['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff', '.bmp', '.gif']);

/** Image files named on the command line (folders are listed, non-images skipped). */
export function listImages(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    let st;
    try {
      st = statSync(p);
    } catch {
      out.push(p); // reported as missing when read
      continue;
    }
    if (st.isDirectory()) {
      for (const f of readdirSync(p).sort()) if (IMAGE_EXT.has(extname(f).toLowerCase())) out.push(join(p, f));
    } else out.push(p);
  }
  return out;
}

/** An image file and the image id its results carry. */
export interface ImageInput {
  file: string;
  imageId: number;
}

/** image_id per file: from a GT file's file_name when given, else a number in the name, else the position. */
export function imageIds(files: string[], gt?: Coco): ImageInput[] {
  const byName = new Map<string, number>();
  if (gt) for (const im of gt.dataset.images) if (typeof im.file_name === 'string') byName.set(basename(im.file_name), im.id);
  return files.map((file, i) => {
    const name = basename(file);
    if (gt) {
      const id = byName.get(name);
      if (id === undefined) throw new DensekitError(`image ${name} is not listed in the GT file's images`, { file: gt.source });
      return { file, imageId: id };
    }
    const m = /(\d+)/.exec(name.replace(extname(name), ''));
    return { file, imageId: m ? Number(m[1]) : i + 1 };
  });
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
