/**
 * Errors that reach the user. A `DensekitError` carries where the problem is
 * (a file, a key path inside it, an entry index) so the CLI can print one line
 * that names it instead of a stack trace from deep inside.
 */
export interface ErrorLocation {
  /** The file the bad input came from. */
  file?: string;
  /** Dotted key path inside the file, e.g. `model.roi_heads.num_classes`. */
  key?: string;
  /** Index of the offending entry in a list (e.g. a results file). */
  index?: number;
}

export class DensekitError extends Error {
  readonly location: ErrorLocation;
  constructor(message: string, location: ErrorLocation = {}) {
    super(formatMessage(message, location));
    this.name = 'DensekitError';
    this.location = location;
  }
}

function formatMessage(message: string, loc: ErrorLocation): string {
  const parts: string[] = [];
  if (loc.file !== undefined) parts.push(loc.file);
  if (loc.index !== undefined) parts.push(`entry ${loc.index}`);
  if (loc.key !== undefined) parts.push(loc.key);
  return parts.length > 0 ? `${parts.join(': ')}: ${message}` : message;
}
