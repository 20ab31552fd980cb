import { appendFileSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Coco, CocoEval, EvalInputError, type Accumulated, type IouType } from '@densekit/eval';
import { writeFileAtomicStream } from '../../io/file-io.js';
import { DensekitError } from '../../util/errors.js';
import { expandGlobs } from '../inputs.js';
import { firstByte, forEachListElement, LineReader } from '../json-stream.js';
import { classifyInputs, recordResults, type ResultInputs } from '../merge.js';
import { BufferedSink, readHeader, readRecords } from '../results-log.js';
import { evaluateCocoFiles, namePerCategory, type CocoEvalReport } from './evaluate.js';
import { resolveClassNames } from '../../data/class-names.js';

/**
 * COCO evaluation of results spread over several files — the shards of one
 * run, or plain COCO results lists — in bounded memory.
 *
 * The results are read a piece at a time and sorted by category into
 * temporary files. Categories are then evaluated in groups of about
 * `groupDetections` detections, each group with the public CocoEval on
 * only its categories (`params.catIds`), and the groups' precision and
 * recall arrays are put together into the arrays one evaluation of
 * everything would have made. COCO evaluation is per category throughout
 * (matching, maxDets per image and category, accumulation), so the 12
 * numbers and the per-category APs are the same as one evaluation's, to
 * the bit; what memory holds at once is the ground truth and one group.
 */

export interface EvaluateInputsOptions {
  /** Detections per evaluated group of categories (default 1,000,000). */
  groupDetections?: number;
  /** Where the temporary per-category files go (default: the OS temp folder; TMPDIR). */
  tmpDir?: string;
  /** Told as each group is evaluated. */
  onGroup?: (done: number, groups: number) => void;
}

export interface InputsEvalReport extends CocoEvalReport {
  /** What was read: files, shards, detections, and the groups evaluated. */
  inputs: { files: number; shards: number; detections: number; groups: number };
}

/** A single plain results file up to this size is evaluated as one file (no temporary copies). */
const SINGLE_FILE_BYTES = 256 << 20;
const LBRACKET = 91;
const LBRACE = 123;

/** Detections per category, appended to one temporary file each (one JSON object per line). */
class CategoryFiles {
  readonly counts: Float64Array;
  private readonly pending: string[][];
  private readonly pendingBytes: Float64Array;
  private readonly flushAt: number;

  constructor(
    private readonly dir: string,
    k: number,
  ) {
    this.counts = new Float64Array(k);
    this.pending = Array.from({ length: k }, () => []);
    this.pendingBytes = new Float64Array(k);
    // At most about 64 MiB waiting in memory over all categories.
    this.flushAt = Math.max(16 << 10, Math.min(1 << 20, Math.floor((64 << 20) / Math.max(1, k))));
  }

  path(c: number): string {
    return join(this.dir, `c${c}.jsonl`);
  }

  add(c: number, text: string): void {
    this.pending[c]!.push(text);
    this.pendingBytes[c]! += text.length + 1;
    this.counts[c]!++;
    if (this.pendingBytes[c]! >= this.flushAt) this.flush(c);
  }

  flush(c: number): void {
    const p = this.pending[c]!;
    if (p.length === 0) return;
    appendFileSync(this.path(c), `${p.join('\n')}\n`);
    this.pending[c] = [];
    this.pendingBytes[c] = 0;
  }

  flushAll(): void {
    for (let c = 0; c < this.pending.length; c++) this.flush(c);
  }
}

/** Call `each(result, file, index)` for every detection of the inputs (index: the entry in a list, or the record's line). */
function forEachResult(inputs: ResultInputs, each: (r: Record<string, unknown>, file: string, index: number) => void): void {
  if (inputs.kind === 'shards') {
    for (const s of inputs.shards) {
      readRecords(s.path, (rec, line) => {
        for (const r of recordResults(rec, s.path)) each(r as Record<string, unknown>, s.path, line);
      });
    }
    return;
  }
  for (const f of inputs.files) {
    forEachListElement(f, (text, i) => {
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch (err) {
        throw new EvalInputError(`invalid JSON (${(err as Error).message})`, f, i);
      }
      each(v as Record<string, unknown>, f, i);
    });
  }
}

/** Categories in sorted-id order, cut into runs of about `target` detections. */
function groupCategories(counts: Float64Array, target: number): [number, number][] {
  const groups: [number, number][] = [];
  let start = 0;
  let n = 0;
  for (let c = 0; c < counts.length; c++) {
    n += counts[c]!;
    if (n >= target || c === counts.length - 1) {
      groups.push([start, c + 1]);
      start = c + 1;
      n = 0;
    }
  }
  return groups;
}

/** An error a group's results file raised, located in the inputs it came from (the i-th detection of those categories). */
function relocate(err: EvalInputError, groupFile: string, inputs: ResultInputs, inGroup: (catId: unknown) => boolean): Error {
  if (err.file !== groupFile || err.index === undefined) return err;
  const where = [err.file, `entry ${err.index}`, err.field].filter((p) => p !== undefined).join(': ');
  const message = err.message.startsWith(`${where}: `) ? err.message.slice(where.length + 2) : err.message;
  let seen = 0;
  let found: { file: string; index: number } | undefined;
  try {
    forEachResult(inputs, (r, file, index) => {
      if (!inGroup(r.category_id)) return;
      if (seen++ === err.index) {
        found = { file, index };
        throw err;
      }
    });
  } catch (e) {
    if (e !== err) throw e;
  }
  return found ? new EvalInputError(message, found.file, found.index, err.field) : err;
}

/**
 * Evaluate results files (globs allowed) against a GT file: one plain file
 * as always; several files, or shards, a group of categories at a time.
 */
export function evaluateCocoInputs(gtPath: string, patterns: string[], iouType: IouType, opts: EvaluateInputsOptions = {}): InputsEvalReport {
  const files = expandGlobs(patterns);
  if (files.length === 1 && opts.groupDetections === undefined) {
    // One file that is not a shard: evaluated as it is (and any error in it worded by the evaluator), unless it is a large list.
    const f = files[0]!;
    const readable = existsSync(f) && statSync(f).isFile();
    const c = readable ? firstByte(f) : -1;
    const shard = c === LBRACE && readHeader(f) !== undefined;
    if (!shard && !(c === LBRACKET && statSync(f).size > SINGLE_FILE_BYTES)) {
      const r = evaluateCocoFiles(gtPath, f, iouType);
      return { ...r, inputs: { files: 1, shards: 0, detections: -1, groups: 1 } };
    }
  }
  const inputs = classifyInputs(files);
  if (inputs.kind === 'shards' && inputs.shards[0]!.header.task !== 'detection') {
    throw new DensekitError(`${inputs.shards[0]!.path} holds ${inputs.shards[0]!.header.task} predictions, not detections`);
  }
  const gt = Coco.fromFile(gtPath);
  const catIds = [...gt.cats.keys()].sort((a, b) => a - b);
  const catIndex = new Map(catIds.map((id, i) => [id, i]));
  const K = catIds.length;
  const tmp = mkdtempSync(join(opts.tmpDir ?? tmpdir(), 'densekit-eval-'));
  try {
    const byCat = new CategoryFiles(tmp, K);
    let unknown = 0;
    let detections = 0;
    forEachResult(inputs, (r, file, index) => {
      if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new EvalInputError('must be an object', file, index);
      const imageId = r.image_id;
      if (typeof imageId !== 'number') throw new EvalInputError('image_id must be a number', file, index, 'image_id');
      if (!gt.imgs.has(imageId)) throw new EvalInputError(`image_id ${imageId} is not an image of the ground truth`, file, index, 'image_id');
      if (typeof r.category_id !== 'number') throw new EvalInputError('category_id must be a number', file, index, 'category_id');
      detections++;
      const c = catIndex.get(r.category_id);
      // Detections of categories the GT lacks are ignored by evaluation (as pycocotools does); they are only counted.
      if (c === undefined) unknown++;
      else byCat.add(c, JSON.stringify(r));
    });
    byCat.flushAll();
    if (detections === 0) throw new EvalInputError('results file has no detections', files.join(', '));
    const groups = groupCategories(byCat.counts, opts.groupDetections ?? 1_000_000);
    let empty: Coco | undefined;
    let acc: Accumulated | undefined;
    const perCategory: ReturnType<CocoEval['perCategory']> = [];
    let params: CocoEval['params'] | undefined;
    groups.forEach(([k0, k1], g) => {
      let n = 0;
      for (let c = k0; c < k1; c++) n += byCat.counts[c]!;
      let dt: Coco;
      const groupFile = join(tmp, `group${g}.json`);
      if (n === 0) {
        empty ??= Coco.fromDataset({ info: gt.dataset.info, images: gt.dataset.images, categories: gt.dataset.categories, annotations: [] }, '<no detections>');
        dt = empty;
      } else {
        writeFileAtomicStream(groupFile, (sink) => {
          const w = new BufferedSink(sink);
          let first = true;
          for (let c = k0; c < k1; c++) {
            if (byCat.counts[c] === 0) continue;
            const r = new LineReader(byCat.path(c));
            try {
              for (let line = r.next(); line; line = r.next()) {
                w.write(first ? '[\n' : ',\n');
                w.write(line);
                first = false;
              }
            } finally {
              r.close();
            }
            rmSync(byCat.path(c), { force: true });
          }
          w.write('\n]\n');
          w.flush();
        });
        try {
          dt = gt.loadResFile(groupFile);
        } catch (err) {
          const ids = new Set(catIds.slice(k0, k1));
          throw err instanceof EvalInputError ? relocate(err, groupFile, inputs, (id) => ids.has(id as number)) : err;
        }
      }
      const E = new CocoEval(gt, dt, iouType);
      E.params.catIds = catIds.slice(k0, k1);
      E.evaluate();
      const part = E.accumulate();
      perCategory.push(...E.perCategory());
      rmSync(groupFile, { force: true });
      const [T, R, Kg, A, M] = part.counts;
      if (!acc) {
        acc = {
          counts: [T, R, K, A, M],
          precision: new Float64Array(T * R * K * A * M).fill(-1),
          recall: new Float64Array(T * K * A * M).fill(-1),
          scores: new Float64Array(T * R * K * A * M).fill(-1),
        };
        params = E.params;
      }
      const AM = A * M;
      for (let t = 0; t < T; t++) {
        for (let r = 0; r < R; r++) {
          const src = (t * R + r) * Kg * AM;
          const dst = ((t * R + r) * K + k0) * AM;
          acc.precision.set(part.precision.subarray(src, src + Kg * AM), dst);
          acc.scores.set(part.scores.subarray(src, src + Kg * AM), dst);
        }
        acc.recall.set(part.recall.subarray(t * Kg * AM, (t + 1) * Kg * AM), (t * K + k0) * AM);
      }
      opts.onGroup?.(g + 1, groups.length);
    });
    // The summary of everything, from the assembled arrays.
    const all = new CocoEval(gt, gt, iouType);
    all.params.catIds = catIds;
    if (params) {
      all.params.iouThrs = params.iouThrs;
      all.params.maxDets = params.maxDets;
    }
    all.eval = acc;
    all.summarize();
    return {
      iouType,
      stats: all.stats,
      perCategory: namePerCategory(perCategory, resolveClassNames({ categories: gt.dataset.categories, categoriesSource: gt.source })),
      summary: all.summaryText,
      unknownCategoryResults: unknown,
      inputs: { files: files.length, shards: inputs.kind === 'shards' ? inputs.shards.length : 0, detections, groups: groups.length },
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
