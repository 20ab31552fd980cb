export * from './engine/index.js';
export * from './config/index.js';
export { readSafetensors, writeSafetensors, parseSafetensors, serializeSafetensors, openSafetensors, type SafetensorsFile, type SafetensorsReader, type DeferredTensor } from './io/safetensors.js';
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

// Tasks: train, evaluate and predict for any config
export { taskFor } from './tasks/index.js';
export type { Task, TaskKind, PredictFilesOptions, PredictSummary, SkippedImage } from './tasks/task.js';
export type { TaskEvaluation } from './train/task.js';
export { listImages, imageIds, type ImageInput } from './tasks/inputs.js';
export { parseShard, resolveShard, shardPositions, sortedImageList, type ShardSpec } from './tasks/shards.js';
export { classifyInputs, checkShards, mergeDetections, mergeSemanticAreas, type ResultInputs, type ShardFile, type MergeSummary } from './tasks/merge.js';
export { evaluateCocoInputs, type EvaluateInputsOptions, type InputsEvalReport } from './tasks/detection/evaluate-inputs.js';
export { detectorStages, type DetectorStages } from './tasks/detection/stages.js';
export { segmenterStages, type SegmenterStages } from './tasks/semantic/stages.js';
export { chooseEngine, describeEngine, graphCacheDir, type EngineName, type InferenceEngine } from './tasks/engine.js';
export { OnnxDetectorEngine, tfjsDetectorEngine, traceDetectorDense, type DetectorEngine } from './tasks/detection/onnx-engine.js';
export { exportDetectorOnnx } from './tasks/detection/export.js';
export { OnnxSegmenterEngine, tfjsSegmenterEngine, traceSegmenterScores, type SegmenterEngine } from './tasks/semantic/onnx-engine.js';
export { exportSegmenterOnnx } from './tasks/semantic/export.js';
export { slideScoresHost, wholeScoresHost, labelMap, hostCropScores, type CropScores, type HostScores } from './segmentation/sliding-window.js';
export { traceGraph, type TraceInput, type TraceOptions } from './engine/onnx/tracer.js';
export { writeOnnxModel } from './io/onnx-file.js';
export { OrtGraph, loadOnnxRuntime, type OrtDevice, type OrtOptions } from './engine/onnx/session.js';

// Inference
export { detectImages, predictFiles, type PredictOptions, type PredictOutput } from './tasks/detection/predict.js';
export { evaluateDetector, evaluateCocoFiles, type DetectionMetrics, type CocoEvalReport } from './tasks/detection/evaluate.js';
export { evaluateSemantic, evaluateSemanticDirs, type SemanticEvalReport } from './tasks/semantic/evaluate.js';
export type { CocoDetection } from './detection/postprocess.js';
export { predictSemantic } from './tasks/semantic/predict.js';
export type { HostImage } from './io/rgb-image.js';
export { loadRgb, encodeRgb } from './io/rgb-image.js';
export { readLabelMap, encodeLabelPng } from './io/image.js';

// Training
export { runRecipe, trainRun, type RecipeOptions } from './tasks/recipe.js';
export type { TrainOptions, TrainResult } from './train/trainer.js';
export { RUN_FILES, runPaths, readMetrics, readEvalRecord, type MetricsRecord, type EvalRecord } from './train/run-folder.js';
export { writeShapesDataset, writeSemanticDataset, type SynthOptions } from './data/synthesize.js';
export { resolveClassNames, readClassesFile, className, type ClassNames } from './data/class-names.js';

// Drawing
export { drawInstances, type DrawItem, type DrawOptions } from './vis/draw-instances.js';
export { drawSemanticOverlay, type SemanticOverlayOptions } from './vis/semantic-overlay.js';
export { visualizeSemantic } from './vis/visualize-semantic.js';
export { writeReport, type ReportOptions } from './vis/report.js';
