export * from './coco/index.js';
export { EvalInputError, MaskApiError } from './errors.js';
export { linspace, npMean, npSum, formatFixed } from './numeric/numpy.js';
export { SemanticEvaluator, reduceZeroLabel, type SemanticEvalOptions, type SemanticMetrics } from './ade20k/semantic-eval.js';
