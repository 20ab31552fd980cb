export { loadConfig, resolveStage, stageNames, dumpConfig, parseOverride, type LoadedConfig } from './load.js';
export * from './schema.js';
