export * from './coco/index.js';
export { EvalInputError, MaskApiError } from './errors.js';
export { linspace, npMean, npSum, formatFixed } from './numeric/numpy.js';
