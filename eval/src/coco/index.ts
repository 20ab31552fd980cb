export { Coco, type AnnFilter, type LoadResOptions, type ReadAnnotationsOptions } from './coco.js';
export type { AnnotationColumns, NumericField } from './annotation-columns.js';
export { readJson } from './json-file.js';
export { CocoEval, type EvalImg, type CocoEvalOptions } from './cocoeval.js';
export type { Accumulated } from './accumulate-category.js';
export { Params, type IouType } from './params.js';
export * as mask from './mask.js';
export * from './rle.js';
export type * from './types.js';
