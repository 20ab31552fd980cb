import { mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';

/**
 * The files of one run, made visible together. Each is written into a
 * hidden folder inside the output folder and moved into place only by
 * `commit()`, once every image has been drawn: a run that fails part way
 * (an image that cannot be decoded, a mask of the wrong size) leaves the
 * output folder as it was, instead of some images drawn and others not.
 */
export class StagedFolder {
  private readonly stage: string;
  private readonly names: string[] = [];
  /** The topmost folder this stage created for `dir`, if any: a discarded run removes it again. */
  private readonly created: string | undefined;

  constructor(readonly dir: string) {
    this.created = mkdirSync(dir, { recursive: true });
    this.stage = mkdtempSync(join(dir, '.staging-'));
  }

  /** Write one file (by name, inside the output folder) into the stage. */
  write(name: string, content: Uint8Array | string): void {
    writeFileAtomic(join(this.stage, name), content);
    this.names.push(name);
  }

  /** Move every staged file into the output folder (each move atomic); returns their final paths. */
  commit(): string[] {
    const out = this.names.map((n) => {
      const to = join(this.dir, n);
      renameSync(join(this.stage, n), to);
      return to;
    });
    rmSync(this.stage, { recursive: true, force: true });
    return out;
  }

  /** Drop everything staged (and the output folder, when this stage made it). */
  discard(): void {
    rmSync(this.created ?? this.stage, { recursive: true, force: true });
  }

  /** Run `fill` with this stage, then commit; on any error discard, so nothing of the run is left, and rethrow. */
  static async run(dir: string, fill: (stage: StagedFolder) => Promise<void>): Promise<string[]> {
    const stage = new StagedFolder(dir);
    try {
      await fill(stage);
    } catch (err) {
      stage.discard();
      throw err;
    }
    return stage.commit();
  }
}
