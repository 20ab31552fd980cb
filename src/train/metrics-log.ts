import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { parseMetrics, type MetricsRecord } from './run-folder.js';

/**
 * A JSONL metrics log (one object per line). On resume the entries beyond
 * the resumed iteration are dropped first, so the log reads as one
 * uninterrupted run; with `evaluationAgain` (the evaluation at the resumed
 * iteration runs again) so is an evaluation entry at that iteration.
 */
export class MetricsLog {
  constructor(
    readonly path: string,
    resumeIteration = 0,
    opts: { evaluationAgain?: boolean } = {},
  ) {
    mkdirSync(dirname(path), { recursive: true });
    if (resumeIteration === 0) writeFileAtomic(path, '');
    else if (existsSync(path)) {
      const keep = (r: MetricsRecord) => r.iter < resumeIteration || (r.iter === resumeIteration && !(opts.evaluationAgain && r.type === 'eval'));
      const kept = parseMetrics(readFileSync(path, 'utf8'), path).filter(keep);
      writeFileAtomic(path, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
    }
  }

  write(record: MetricsRecord): void {
    appendFileSync(this.path, `${JSON.stringify(record)}\n`);
  }
}
