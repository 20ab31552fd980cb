import { loadRgb, type HostImage } from '../io/rgb-image.js';
import { skipReason } from '../tasks/results-log.js';
import type { SkippedImage } from '../tasks/task.js';
import { DensekitError } from '../util/errors.js';

/**
 * An image to draw on, or undefined when its file cannot be decoded: as
 * predict does, an unreadable image is skipped and named (pushed onto
 * `skipped`, for the command to report with exit status 3) while the others
 * are drawn. Files that are not there at all are refused before any drawing
 * (see image-files.ts), so what is skipped here exists but will not decode.
 */
export async function loadImageOrSkip(file: string, skipped: SkippedImage[]): Promise<HostImage | undefined> {
  try {
    return await loadRgb(file);
  } catch (err) {
    if (!(err instanceof DensekitError)) throw err;
    skipped.push({ file, reason: skipReason(file, err.message) });
    return undefined;
  }
}
