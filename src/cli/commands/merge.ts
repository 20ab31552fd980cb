import type { Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { DensekitError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import { expandGlobs } from '../../tasks/inputs.js';
import { classifyInputs, mergeDetections, mergeSemanticAreas } from '../../tasks/merge.js';
import { formatSemanticReport } from '../../tasks/semantic/evaluate.js';
import { action, reportSkipped } from '../run-action.js';

export function registerMerge(program: Command): void {
  program
    .command('merge')
    .description('put the shards of one prediction run back together: one COCO results file (detector), or the exact mIoU from the shards\' areas (segmenter)')
    .argument('<inputs...>', 'shard files or globs (e.g. "out/val.shard-*.jsonl"), or plain COCO results lists to concatenate')
    .option('-o, --out <file>', 'detector: the COCO results JSON to write; segmenter: the metrics JSON')
    .action(
      action((inputs: string[], opts: { out?: string }) => {
        // Checked before any shard is read: a folder here would only fail at the very end.
        if (opts.out !== undefined && existsSync(opts.out) && statSync(opts.out).isDirectory()) throw new DensekitError('is a folder; merge writes a JSON file (give a file name)', { file: opts.out });
        const files = expandGlobs(inputs);
        const what = classifyInputs(files);
        if (what.kind === 'shards' && what.shards[0]!.header.task === 'semantic') {
          const { report, labelMaps, skipped } = mergeSemanticAreas(what.shards);
          process.stdout.write(formatSemanticReport(report));
          process.stdout.write(`merged ${what.shards.length} shards (run ${what.shards[0]!.header.run.slice(0, 12)}): ${labelMaps} label maps${opts.out ? ` → ${opts.out}` : ''}\n`);
          if (opts.out) writeFileAtomic(opts.out, `${JSON.stringify(report, null, 2)}\n`);
          // The run skipped these images: the metrics are over the others, like the run's own (exit 3).
          reportSkipped(skipped, labelMaps + skipped.length);
          return;
        }
        if (!opts.out) throw new DensekitError('merge needs -o, the COCO results file to write');
        const m = mergeDetections(what, opts.out);
        const from = what.kind === 'shards' ? `${m.inputs} shards (run ${what.shards[0]!.header.run.slice(0, 12)})` : `${m.inputs} results files`;
        process.stdout.write(`merged ${from}: ${m.results} detections${what.kind === 'shards' ? ` on ${m.images - m.skipped.length} images` : ''} → ${opts.out}\n`);
        reportSkipped(m.skipped, m.images);
      }),
    );
}
