import type { Command } from 'commander';
import { convertBeit3, summarizeDropped } from '../../backbone/convert/beit3-keys.js';
import { readTorchStateDict } from '../../io/torch.js';
import { writeSafetensors } from '../../io/safetensors.js';
import { action } from '../run-action.js';
import { existsSync, statSync } from 'node:fs';
import { DensekitError } from '../../util/errors.js';

export function registerConvert(program: Command): void {
  const cmd = program.command('convert').description('convert official checkpoints to densekit safetensors');
  cmd
    .command('beit3')
    .description('BEiT-3 .pth (unilm/torchscale) → encoder weights with densekit names (vision expert only)')
    .argument('<in>', 'official checkpoint (.pth)')
    .argument('<out>', 'output .safetensors')
    .action(
      action((input: string, output: string) => {
        // Checked before the checkpoint is read: a folder here would only fail at the very end.
        if (existsSync(output) && statSync(output).isDirectory()) throw new DensekitError('is a folder; convert writes a .safetensors file (give a file name)', { file: output });
        const c = convertBeit3(readTorchStateDict(input), input);
        writeSafetensors(output, c.tensors, { source: input, depth: String(c.depth), embed_dim: String(c.embedDim), format: 'densekit-beit3-encoder-1' });
        process.stdout.write(`wrote ${c.tensors.size} tensors (depth ${c.depth}, width ${c.embedDim}) → ${output}\n`);
        const dropped = summarizeDropped(c.dropped);
        process.stdout.write(`dropped ${c.dropped.length} tensors not on the vision path:\n${dropped.map((d) => `  ${d}`).join('\n')}\n`);
      }),
    );
}
