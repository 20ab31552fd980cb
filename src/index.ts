export * from './engine/index.js';
export * from './config/index.js';
export { readSafetensors, writeSafetensors, parseSafetensors, serializeSafetensors, type SafetensorsFile } from './io/safetensors.js';
export { readTorchStateDict, TorchCheckpoint } from './io/torch.js';
export type { HostTensor, HostDType } from './io/host-tensor.js';
export { DensekitError } from './util/errors.js';
