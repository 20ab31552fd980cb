#!/usr/bin/env node
import { Command } from 'commander';
import { EXIT_BAD_INPUT } from './run-action.js';
import { readFileSync } from 'node:fs';
import { registerConfig } from './commands/config.js';
import { registerEval } from './commands/eval.js';
import { registerTrain } from './commands/train.js';
import { registerData } from './commands/data.js';
import { registerPredict } from './commands/predict.js';
import { registerConvert } from './commands/convert.js';
import { registerDemo } from './commands/demo.js';
import { registerVisualize } from './commands/visualize.js';
import { registerExport } from './commands/export.js';
import { registerMerge } from './commands/merge.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('densekit')
    .description('Dense prediction with BEiT-3 backbones: detection, instance and semantic segmentation')
    .version(pkg.version, '-V, --version')
    .showHelpAfterError()
    // A usage error (unknown option, a missing or invalid value) is bad input like any other: exit 2.
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT_BAD_INPUT));
  registerTrain(program);
  registerEval(program);
  registerPredict(program);
  registerMerge(program);
  registerConvert(program);
  registerExport(program);
  registerData(program);
  registerDemo(program);
  registerVisualize(program);
  registerConfig(program);
  return program;
}

await buildProgram().parseAsync(process.argv);
