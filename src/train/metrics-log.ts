import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';

/**
 * A JSONL metrics log (one object per line). On resume the entries at or
 * beyond the resumed iteration are dropped first, so the log reads as one
 * uninterrupted run.
 */
export class MetricsLog {
  constructor(
    readonly path: string,
    resumeIteration = 0,
  ) {
    mkdirSync(dirname(path), { recursive: true });
    if (resumeIteration === 0) writeFileAtomic(path, '');
    else if (existsSync(path)) {
      const kept = readFileSync(path, 'utf8')
        .split('\n')
        .filter((l) => l && (JSON.parse(l) as { iter: number }).iter <= resumeIteration);
      writeFileAtomic(path, kept.map((l) => `${l}\n`).join(''));
    }
  }

  write(record: Record<string, number | string | undefined>): void {
    appendFileSync(this.path, `${JSON.stringify(record)}\n`);
  }
}
