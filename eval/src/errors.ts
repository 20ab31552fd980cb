/**
 * An input problem, located: the file, the entry index in a list, the field.
 * Evaluation never crashes deep inside on bad data; it throws one of these.
 */
export class EvalInputError extends Error {
  constructor(
    message: string,
    readonly file?: string,
    readonly index?: number,
    readonly field?: string,
  ) {
    const where = [file, index !== undefined ? `entry ${index}` : undefined, field].filter((p) => p !== undefined).join(': ');
    super(where ? `${where}: ${message}` : message);
    this.name = 'EvalInputError';
  }
}

/**
 * Raised where pycocotools raises; `pythonError` names the Python exception
 * class pycocotools would have thrown for the same input.
 */
export class MaskApiError extends Error {
  constructor(
    message: string,
    readonly pythonError: 'TypeError' | 'ValueError' | 'Exception',
  ) {
    super(message);
    this.name = 'MaskApiError';
  }
}
