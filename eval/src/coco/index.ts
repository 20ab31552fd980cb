export { Coco, type AnnFilter, type LoadResOptions } from './coco.js';
export { readJson } from './json-file.js';
export { CocoEval, type EvalImg, type CocoEvalOptions } from './cocoeval.js';
export type { Accumulated } from './accumulate-category.js';
export { Params, type IouType } from './params.js';
export * as mask from './mask.js';
export * from './rle.js';
export type * from './types.js';
