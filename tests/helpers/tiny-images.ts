import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { encodeRgb } from '../../src/io/rgb-image.js';
import { encodeLabelPng } from '../../src/io/image.js';

/** Write a small RGB PNG of one colour (folders made as needed). */
export async function writeRgbPng(path: string, width: number, height: number, rgb: [number, number, number] = [90, 90, 90]): Promise<void> {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(rgb, i * 3);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, await encodeRgb({ data, width, height }, 'png'));
}

/** Write a single-channel label PNG (row-major values). */
export async function writeLabelPng(path: string, width: number, height: number, values: ArrayLike<number>): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, await encodeLabelPng(Uint8Array.from(values), width, height));
}
