export * from './engine/index.js';
export * from './config/index.js';
export { readSafetensors, writeSafetensors, parseSafetensors, serializeSafetensors, type SafetensorsFile } from './io/safetensors.js';
export { readTorchStateDict, TorchCheckpoint } from './io/torch.js';
export type { HostTensor, HostDType } from './io/host-tensor.js';
export { DensekitError } from './util/errors.js';

// Models
export { Beit3Encoder } from './backbone/beit3.js';
export { ViTDetBackbone, buildViTDetBackbone } from './backbone/vitdet.js';
export { VitAdapter } from './backbone/vit-adapter.js';
export { readBeit3Weights, loadBeit3Weights, type PretrainedReport } from './backbone/convert/load-beit3.js';
export { GeneralizedRCNN, loadDetector } from './detection/rcnn.js';
export { Mask2Former, loadSegmenter } from './segmentation/mask2former.js';

// Inference
export { detectImages, predictFiles, type PredictInput, type PredictOptions, type PredictOutput } from './detection/predict.js';
export type { CocoDetection } from './detection/postprocess.js';
export { predictSemantic } from './segmentation/semantic-predict.js';
export type { HostImage } from './structures/image-list.js';
export { loadRgb, encodeRgb } from './data/image-io.js';
export { readLabelMap, encodeLabelPng } from './io/image.js';

// Training
export { runRecipe, trainRun, type RecipeOptions } from './train/recipe.js';
export type { TrainOptions, TrainResult } from './train/trainer.js';
export { writeShapesDataset, writeSemanticDataset, type SynthOptions } from './data/synthesize.js';

// Drawing
export { drawInstances, type DrawItem, type DrawOptions } from './vis/draw-instances.js';
export { drawSemanticOverlay, type SemanticOverlayOptions } from './vis/semantic-overlay.js';
export { writeReport, type ReportOptions } from './vis/report.js';
