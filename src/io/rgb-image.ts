import sharp from 'sharp';
import { DensekitError } from '../util/errors.js';

/** An RGB image in host memory, row-major HWC uint8 (or float) values. */
export interface HostImage {
  data: Uint8Array | Float32Array;
  height: number;
  width: number;
}

/** Decode an image file to RGB (EXIF orientation applied). Errors name the file. */
export async function loadRgb(path: string): Promise<HostImage> {
  try {
    const { data, info } = await sharp(path, { failOn: 'error' }).rotate().removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
  } catch (err) {
    const msg = (err as Error).message;
    throw new DensekitError(/ENOENT|missing|no such file/i.test(msg) ? 'image file not found' : `cannot decode image (${msg.split('\n')[0]})`, { file: path });
  }
}

/** Resize an RGB image (bilinear). */
export async function resizeRgb(img: HostImage, width: number, height: number): Promise<HostImage> {
  if (img.width === width && img.height === height) return img;
  const { data } = await sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(width, height, { kernel: 'linear', fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width, height };
}

/** Encode RGB as PNG or JPEG bytes. */
export function encodeRgb(img: HostImage, format: 'png' | 'jpeg'): Promise<Buffer> {
  const s = sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), { raw: { width: img.width, height: img.height, channels: 3 } });
  return (format === 'png' ? s.png() : s.jpeg({ quality: 92 })).toBuffer();
}
