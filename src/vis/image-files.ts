import { existsSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Coco } from '@densekit/eval';
import { imageIds, listImages } from '../tasks/inputs.js';
import { DensekitError } from '../util/errors.js';

/**
 * Which file in the image folder an image id of a results file is. A
 * results file carries only ids: a GT file names each id's file; without
 * one, the folder's images are numbered exactly as `densekit predict`
 * numbers them (tasks/inputs.ts: the number in the file name, else the
 * position in the folder). Every id asked for is resolved before anything
 * is drawn; the ids that have no file are reported together.
 */

/** At most this many names in one message; the rest are counted. */
const LISTED = 5;

function listed(items: string[]): string {
  const head = items.slice(0, LISTED).join(', ');
  return items.length > LISTED ? `${head} and ${items.length - LISTED} more` : head;
}

function checkFolder(dir: string): void {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    throw new DensekitError('image folder not found', { file: dir });
  }
  if (!isDir) throw new DensekitError('not a folder (--images names the folder of the images)', { file: dir });
}

/** Files of the GT's images `ids`: `file_name` under `dir` (or its base name there, as predict matches names). */
export function imageFilesFromGt(ids: readonly number[], gt: Coco, dir: string): Map<number, string> {
  checkFolder(dir);
  const files = new Map<number, string>();
  const missing: string[] = [];
  for (const id of ids) {
    const name = gt.imgs.get(id)?.file_name;
    if (typeof name !== 'string' || name === '') throw new DensekitError(`image ${id} has no file_name`, { file: gt.source, key: 'images' });
    const path = [join(dir, name), join(dir, basename(name))].find((p) => existsSync(p));
    if (path) files.set(id, path);
    else missing.push(name);
  }
  if (missing.length > 0) {
    throw new DensekitError(`${missing.length} of the ${ids.length} images to draw are not in the folder: ${listed(missing)} (named by ${gt.source}); nothing was drawn`, { file: dir });
  }
  return files;
}

/**
 * Files of image ids as `densekit predict` numbered the images of `dir` (see
 * the module's comment); a folder where two files would get one id is
 * refused as predict refuses it.
 */
export function imageFilesFromFolder(ids: readonly number[], dir: string, resultsFile: string): Map<number, string> {
  checkFolder(dir);
  const byId = new Map(imageIds(listImages([dir])).map((x) => [x.imageId, x.file]));
  const files = new Map<number, string>();
  const missing: number[] = [];
  for (const id of ids) {
    const file = byId.get(id);
    if (file !== undefined) files.set(id, file);
    else missing.push(id);
  }
  if (missing.length > 0) {
    throw new DensekitError(
      `no image for ${missing.length === 1 ? 'image id' : `${missing.length} image ids`} ${listed(missing.map(String))} of ${resultsFile}: without --gt, an image's id is the number in its file name, else its position in the folder (as predict numbers them); pass --gt GT.json to name the files; nothing was drawn`,
      { file: dir },
    );
  }
  return files;
}

/**
 * A PNG name per image file: its name without the extension, or with it
 * where two images would otherwise share one (a.jpg and a.png), numbered
 * where even that is shared.
 */
export function outputNames(files: readonly string[]): string[] {
  const stem = (f: string) => basename(f).replace(/\.[^.]+$/, '');
  const count = new Map<string, number>();
  for (const f of files) count.set(stem(f), (count.get(stem(f)) ?? 0) + 1);
  const names = files.map((f) => `${count.get(stem(f))! > 1 ? basename(f) : stem(f)}.png`);
  // Same base names in different folders (a GT's file_name may have folders): numbered by position.
  const seen = new Map<string, number>();
  for (const n of names) seen.set(n, (seen.get(n) ?? 0) + 1);
  return names.map((n, i) => (seen.get(n)! > 1 ? `${n.slice(0, -4)}-${i + 1}.png` : n));
}
