import type { Command } from 'commander';
import { action, NotAvailableError } from '../run-action.js';

/**
 * Commands whose capability has not landed yet. They exist so that `--help`
 * shows the whole tool, and exit non-zero with one line when run.
 */
const PENDING: [string, string][] = [
  ['train', 'train a model from a config'],
  ['eval', 'evaluate results or a model (COCO, ADE20K)'],
  ['predict', 'run a model on images and write results'],
  ['visualize', 'draw predictions over images'],
  ['convert', 'convert official checkpoints to densekit safetensors'],
  ['data', 'datasets: synthesize, inspect'],
  ['demo', 'train, evaluate and draw on synthetic data'],
];

export function registerNotYet(program: Command, skip: Set<string> = new Set()): void {
  for (const [name, description] of PENDING) {
    if (skip.has(name)) continue;
    program
      .command(name)
      .description(`${description} (not available yet)`)
      .allowUnknownOption()
      .argument('[args...]')
      .action(
        action(() => {
          throw new NotAvailableError(`densekit ${name}`);
        }),
      );
  }
}
