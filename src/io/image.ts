import sharp from 'sharp';
import { DensekitError } from '../util/errors.js';

/** A decoded image: row-major, interleaved channels. */
export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

async function decode(path: string, pipeline: (s: sharp.Sharp) => sharp.Sharp): Promise<RawImage> {
  try {
    const { data, info } = await pipeline(sharp(path, { failOn: 'error' })).raw().toBuffer({ resolveWithObject: true });
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels: info.channels };
  } catch (err) {
    const msg = (err as Error).message;
    const reason = /no such file|ENOENT|missing/i.test(msg) ? 'file not found' : `cannot decode image (${msg.split('\n')[0]})`;
    throw new DensekitError(reason, { file: path });
  }
}

/** Decode an image as 8-bit RGB with its EXIF orientation applied. */
export function readImageRgb(path: string): Promise<RawImage> {
  return decode(path, (s) => s.rotate().removeAlpha().toColourspace('srgb'));
}

/**
 * Read a single-channel label map (8-bit PNG, values are class ids).
 * Multi-channel files are refused: a palette or RGB rendering of labels
 * would silently give wrong classes.
 */
export async function readLabelMap(path: string): Promise<RawImage> {
  const meta = await sharp(path)
    .metadata()
    .catch((err: Error) => {
      throw new DensekitError(/ENOENT|missing|no such file/i.test(err.message) ? 'file not found' : `cannot decode image (${err.message})`, { file: path });
    });
  if (meta.isPalette) throw new DensekitError('label map is a palette PNG; densekit expects 8-bit grayscale class ids', { file: path });
  if ((meta.channels ?? 1) > 2) throw new DensekitError(`label map has ${meta.channels} channels; expected a single-channel (grayscale) PNG`, { file: path });
  if (meta.depth !== undefined && meta.depth !== 'uchar') throw new DensekitError(`label map has ${meta.depth} samples; expected 8-bit`, { file: path });
  return decode(path, (s) => s.extractChannel(0));
}

/** Encode a single-channel uint8 map as PNG bytes. */
export function encodeLabelPng(data: Uint8Array, width: number, height: number): Promise<Buffer> {
  // Without b-w, sharp promotes one channel to sRGB and writes an RGB PNG.
  return sharp(Buffer.from(data.buffer, data.byteOffset, data.byteLength), { raw: { width, height, channels: 1 } }).toColourspace('b-w').png().toBuffer();
}
