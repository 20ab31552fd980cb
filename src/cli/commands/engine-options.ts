import { Option, type Command } from 'commander';
import { parseCount } from '../option-values.js';

/** The inference-engine options of `predict` and `eval model`. */
export interface EngineOptions {
  engine?: 'onnx' | 'tfjs';
  device?: 'cpu' | 'webgpu' | 'cuda';
  threads?: number;
}

/**
 * Add `--engine`, `--device` and `--threads` to a command, each checked
 * when the command line is parsed (a usage error naming the option, exit 2,
 * before the config is read or the backend starts).
 */
export function addEngineOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--engine <name>', 'onnx or tfjs (default: onnx when onnxruntime-node loads)').choices(['onnx', 'tfjs']))
    .addOption(new Option('--device <name>', 'onnx engine: cpu, webgpu or cuda').choices(['cpu', 'webgpu', 'cuda']).default('cpu'))
    .addOption(new Option('--threads <n>', 'onnx engine: CPU threads (default: all cores)').argParser(parseCount));
}
