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
