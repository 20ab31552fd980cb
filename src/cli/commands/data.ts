import type { Command } from 'commander';
import { writeSemanticDataset, writeShapesDataset } from '../../data/synthesize.js';
import { DensekitError } from '../../util/errors.js';
import { action } from '../run-action.js';

function int(name: string) {
  return (v: string) => {
    const n = Number.parseInt(v, 10);
    if (!Number.isInteger(n) || n < 0) throw new DensekitError(`${name} must be a non-negative integer, got ${v}`);
    return n;
  };
}

export function registerData(program: Command): void {
  const cmd = program.command('data').description('datasets');
  cmd
    .command('synth')
    .description('write a synthetic dataset of shapes (train/val) with its class names in classes.json: instances in COCO format, or label maps in the ADE20K layout')
    .requiredOption('-o, --out <dir>', 'output folder')
    .option('--kind <kind>', 'shapes (instances, COCO format) or semantic (label maps, ADE20K layout)', 'shapes')
    .option('--images <n>', 'training images', int('--images'), 200)
    .option('--val-images <n>', 'validation images', int('--val-images'), 50)
    .option('--size <px>', 'image size', int('--size'), 128)
    .option('--classes <list>', 'comma-separated subset of circle,square,triangle,ring, in the order of their class ids')
    .option('--seed <n>', 'random seed', int('--seed'), 0)
    .option('--colors <mode>', 'object colours: class (a hue per class, jittered) or random', 'class')
    .action(
      action(async (opts: { out: string; kind: string; images: number; valImages: number; size: number; classes?: string; seed: number; colors: string }) => {
        if (opts.colors !== 'class' && opts.colors !== 'random') throw new DensekitError(`--colors must be class or random, got ${opts.colors}`);
        const classes = opts.classes?.split(',').map((s) => s.trim());
        if (opts.kind === 'semantic') {
          const r = await writeSemanticDataset({ out: opts.out, trainImages: opts.images, valImages: opts.valImages, size: opts.size, seed: opts.seed, classes, colors: opts.colors as 'class' | 'random' });
          process.stdout.write(`wrote ${opts.images} training and ${opts.valImages} validation images (ADE20K layout) to ${opts.out}\n  class names: ${r.classes}\n`);
          return;
        }
        if (opts.kind !== 'shapes') throw new DensekitError(`--kind must be shapes or semantic, got ${opts.kind}`);
        const r = await writeShapesDataset({ out: opts.out, trainImages: opts.images, valImages: opts.valImages, size: opts.size, seed: opts.seed, classes, colors: opts.colors });
        process.stdout.write(`wrote ${opts.images} training and ${opts.valImages} validation images\n  ${r.train}\n  ${r.val}\n  class names: ${r.classes}\n`);
      }),
    );
}
