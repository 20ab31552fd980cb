import { readdirSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { DensekitError } from '../util/errors.js';
import { resolveClassNames, type ClassNames } from './class-names.js';

/** One image and its label map (ADE20K release layout). */
export interface SemanticRecord {
  name: string;
  image: string;
  annotation: string;
}

export interface SemanticDataset {
  name: string;
  records: SemanticRecord[];
  /** ADE20K's raw labels: 0 is "other" (ignored), class k is stored as k+1. */
  reduceZeroLabel: boolean;
  /** The data's own class names (its classes.json, or ADE20K's for ADE20K itself); see class-names.ts. */
  classNames: ClassNames;
}

const IMAGE_EXT = new Set(['.jpg', '.jpeg', '.png']);

/**
 * Pair images with label PNGs by file name (ADE20K layout:
 * images/<split>/X.jpg with annotations/<split>/X.png). An image without
 * its annotation is an error naming it.
 */
export function loadSemanticDataset(imagesDir: string, annotationsDir: string, reduceZeroLabel: boolean): SemanticDataset {
  const list = (dir: string) => {
    try {
      return readdirSync(dir).sort();
    } catch (err) {
      throw new DensekitError(`cannot list (${(err as NodeJS.ErrnoException).code})`, { file: dir });
    }
  };
  const anns = new Set(list(annotationsDir).filter((f) => f.toLowerCase().endsWith('.png')));
  const records: SemanticRecord[] = [];
  for (const f of list(imagesDir)) {
    if (!IMAGE_EXT.has(extname(f).toLowerCase())) continue;
    const stem = basename(f, extname(f));
    if (!anns.has(`${stem}.png`)) throw new DensekitError(`no annotation ${stem}.png for image ${f}`, { file: annotationsDir });
    records.push({ name: stem, image: join(imagesDir, f), annotation: join(annotationsDir, `${stem}.png`) });
  }
  if (records.length === 0) throw new DensekitError('no images found', { file: imagesDir });
  // Read now, so that a malformed classes file stops a command before any work.
  const classNames = resolveClassNames({ dataDirs: [annotationsDir, imagesDir], labelMaps: true });
  return { name: imagesDir, records, reduceZeroLabel, classNames };
}
