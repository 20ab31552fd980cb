import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { writeFileAtomicStream } from '../io/file-io.js';
import { DensekitError } from '../util/errors.js';
import { refuseIdCollisions, type ImageInput } from './inputs.js';
import { BufferedSink, canonicalJson, hashFile, readHeader, RecordLog, skipReason, RECORDS_FORMAT, RECORDS_VERSION, runIdentity, sha256Of, writeRecordsFile, type ImageRecord, type RunHeader } from './results-log.js';
import { shardPositions, sortedImageList, type ShardSpec } from './shards.js';
import type { SkippedImage, TaskKind } from './task.js';

/**
 * A prediction over an image list as a resumable, shardable run: the plan
 * (the sorted list, this shard's images, the header naming the run), the
 * loop that appends one record per image to a log, and the final files.
 */

/** An image of the run: its position in the sorted list, its file and image id. */
export interface PlannedImage {
  k: number;
  file: string;
  imageId: number;
}

export interface PredictionPlan {
  header: RunHeader;
  /** This shard's images, in list order. */
  mine: PlannedImage[];
  shard?: ShardSpec;
}

export interface PlanInput {
  task: TaskKind;
  weights: string;
  configFile?: string;
  /** The parts of the config that change predictions (hashed into the run's identity). */
  config: unknown;
  /** Every image of the run, any order (sorted and de-duplicated here). */
  files: string[];
  /** Image ids for the sorted list (default: position + 1). */
  ids?: (sorted: string[]) => ImageInput[];
  /** Task settings that change the records (hashed into the run's identity). */
  options: Record<string, unknown>;
  shard?: ShardSpec;
  engine?: string;
}

/** The run's plan: hashes the weights (SHA-256 of the file) and the image list. */
export function planPrediction(p: PlanInput): PredictionPlan {
  const sorted = sortedImageList(p.files);
  const inputs = p.ids ? p.ids(sorted) : sorted.map((file, i) => ({ file, imageId: i + 1 }));
  // Two files under one id would have their results merged: refused before any work.
  refuseIdCollisions(inputs);
  const list = createHash('sha256');
  for (const { file, imageId } of inputs) list.update(`${file}\t${imageId}\n`);
  const positions = shardPositions(inputs.length, p.shard);
  const w = hashFile(p.weights);
  const partial: Omit<RunHeader, 'run'> = {
    densekit: RECORDS_FORMAT,
    version: RECORDS_VERSION,
    state: 'partial',
    task: p.task,
    weights: { path: resolve(p.weights), ...w },
    config: { ...(p.configFile ? { file: p.configFile } : {}), sha256: sha256Of(canonicalJson(p.config)) },
    images: { total: inputs.length, sha256: list.digest('hex') },
    shard: { index: p.shard?.index ?? 0, count: p.shard?.count ?? 1, images: positions.length },
    options: p.options,
    ...(p.engine ? { engine: p.engine } : {}),
    created: new Date().toISOString(),
  };
  const header: RunHeader = { ...partial, run: runIdentity(partial) };
  return { header, mine: positions.map((k) => ({ k, file: inputs[k]!.file, imageId: inputs[k]!.imageId })), shard: p.shard };
}

/** Whether `path` is a complete predictions file of this plan's run and shard (a finished shard need not run again). */
export function isCompleteFile(path: string, plan: PredictionPlan): boolean {
  if (!existsSync(path)) return false;
  const h = readHeader(path);
  return h !== undefined && h.state === 'complete' && h.run === plan.header.run && h.shard.index === plan.header.shard.index;
}

/** What runs on each image: loaded only when some image is left to do. */
export interface Predictor {
  /** One image's record fields (besides k and file), or `{ skipped: reason }`. */
  predict(img: PlannedImage): Promise<Record<string, unknown>>;
  dispose(): Promise<void>;
}

export interface RunOptions {
  resume: boolean;
  open: () => Promise<Predictor>;
  /** For a recorded image: whether its outputs are still there (semantic: its label PNG); else it runs again. */
  stillDone?: (img: PlannedImage) => boolean;
  /** Told once before the first image: images already done (resumed), of this shard's total. */
  onStart?: (done: number, total: number) => void;
  onImage?: (done: number, total: number) => void;
}

export interface RunResult {
  log: RecordLog;
  /** Images found done in the log. */
  resumed: number;
  /** Images predicted by this call. */
  ran: number;
  notes: string[];
}

/**
 * Predict this shard's images that the log does not hold yet, appending one
 * record per image as it finishes. Returns the open log: the caller writes
 * the final file from it and removes it.
 */
export async function runPrediction(plan: PredictionPlan, logPath: string, o: RunOptions): Promise<RunResult> {
  // A fresh run loads its predictor (reading the weights) before the log is
  // created: weights that do not load leave no log behind, and an earlier
  // log is replaced only once the new run can start.
  let p: Predictor | undefined = !o.resume && plan.mine.length > 0 ? await o.open() : undefined;
  let log: RecordLog;
  let note: string | undefined;
  try {
    ({ log, note } = RecordLog.open(logPath, plan.header, { resume: o.resume }));
  } catch (err) {
    await p?.dispose();
    throw err;
  }
  const notes = note ? [`${logPath}: ${note}`] : [];
  try {
    const todo = plan.mine.filter((img) => !(log.done(img.k) && (o.stillDone?.(img) ?? true)));
    const total = plan.mine.length;
    const resumed = total - todo.length;
    let done = resumed;
    o.onStart?.(done, total);
    if (todo.length > 0) {
      p ??= await o.open();
      for (const img of todo) {
        const fields = await p.predict(img);
        log.append({ k: img.k, file: img.file, ...fields });
        o.onImage?.(++done, total);
      }
    }
    return { log, resumed, ran: todo.length, notes };
  } catch (err) {
    log.close();
    throw err;
  } finally {
    await p?.dispose();
  }
}

/** The skipped images among the plan's records. */
export function skippedOf(plan: PredictionPlan, log: RecordLog): SkippedImage[] {
  const out: SkippedImage[] = [];
  for (const img of plan.mine) {
    if (log.done(img.k)) continue;
    const rec = log.record(img.k);
    if (rec?.skipped !== undefined) out.push({ file: rec.file, reason: skipReason(rec.file, rec.skipped) });
  }
  return out;
}

/** Write the shard's complete predictions file (records in list order) and remove the log. */
export function finishRecords(plan: PredictionPlan, log: RecordLog, path: string, count: number): void {
  writeRecordsFile(path, { ...plan.header, state: 'complete', count }, log, plan.mine.map((m) => m.k));
  log.remove();
}

/** A detector record's results. */
function resultsOf(rec: ImageRecord | undefined, k: number, file: string): unknown[] {
  if (!rec) throw new DensekitError(`no record for image ${k}`, { file });
  if (rec.skipped !== undefined) return [];
  return rec.results as unknown[];
}

/** How many detections the plan's records hold. */
export function countResults(plan: PredictionPlan, log: RecordLog): number {
  let n = 0;
  for (const img of plan.mine) n += resultsOf(log.record(img.k), img.k, log.path).length;
  return n;
}

/**
 * Write the records' detections as one COCO results list (one detection per
 * line, in image order), atomically, and remove the log. Returns the count.
 */
export function finishCocoList(plan: PredictionPlan, log: RecordLog, path: string): number {
  let n = 0;
  writeFileAtomicStream(path, (sink) => {
    const w = new BufferedSink(sink);
    for (const img of plan.mine) {
      for (const r of resultsOf(log.record(img.k), img.k, log.path)) {
        w.write(n === 0 ? '[\n' : ',\n');
        w.write(JSON.stringify(r));
        n++;
      }
    }
    w.write(n === 0 ? '[]\n' : '\n]\n');
    w.flush();
  });
  log.remove();
  return n;
}
