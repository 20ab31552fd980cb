import { existsSync, statSync } from 'node:fs';
import { SemanticEvaluator } from '@densekit/eval';
import { writeFileAtomicStream } from '../io/file-io.js';
import { DensekitError } from '../util/errors.js';
import { resolveClassNames } from '../data/class-names.js';
import { firstByte, forEachListElement, LineReader } from './json-stream.js';
import { BufferedSink, parseHeaderLine, parseRecordLine, readHeader, runDifference, skipReason, type ImageRecord, type RunHeader } from './results-log.js';
import { semanticReport, type SemanticEvalReport } from './semantic/evaluate.js';

/**
 * Putting shards back together. Shard files (densekit predictions files,
 * JSON Lines with a header) are checked to be parts of one run — same
 * weights, config, image list, options and shard count — complete, and
 * every shard present once; then a detector's records become one COCO
 * results list in the order of the full sorted image list (the order an
 * unsharded run writes), and a segmenter's per-image areas are summed.
 * Plain COCO results lists (no header) are concatenated as given.
 */

export interface ShardFile {
  path: string;
  header: RunHeader;
}

/** What a set of result inputs is: shards of one run, or plain COCO results lists. */
export type ResultInputs = { kind: 'shards'; shards: ShardFile[] } | { kind: 'coco'; files: string[] };

const LBRACE = 123;
const LBRACKET = 91;

/** Sort inputs into shards (checked) or plain lists; a mix of the two is refused. */
export function classifyInputs(files: string[]): ResultInputs {
  if (files.length === 0) throw new DensekitError('no results files given');
  const shards: ShardFile[] = [];
  const plain: string[] = [];
  for (const path of files) {
    if (!existsSync(path)) throw new DensekitError('no such file', { file: path });
    if (statSync(path).isDirectory()) throw new DensekitError('is a folder; name the results files (a glob such as "dir/*.jsonl" works)', { file: path });
    const c = firstByte(path);
    if (c === LBRACKET) plain.push(path);
    else if (c === LBRACE) {
      const header = readHeader(path);
      if (!header) throw new DensekitError('neither a COCO results list nor a densekit predictions file', { file: path });
      shards.push({ path, header });
    } else throw new DensekitError('neither a COCO results list nor a densekit predictions file', { file: path });
  }
  if (shards.length > 0 && plain.length > 0) {
    throw new DensekitError(`cannot mix shard files (${shards[0]!.path}) with plain COCO results lists (${plain[0]}): merge the shards first`);
  }
  return shards.length > 0 ? { kind: 'shards', shards: checkShards(shards) } : { kind: 'coco', files: plain };
}

/**
 * Check that shard files are the complete shards of one run, each once;
 * returns them by shard index.
 */
export function checkShards(shards: ShardFile[]): ShardFile[] {
  const first = shards[0]!;
  for (const s of shards) {
    const diff = runDifference(first.header, s.header);
    if (diff) throw new DensekitError(`${s.path} and ${first.path} are shards of different runs: ${diff}`);
  }
  for (const s of shards) {
    if (s.header.state !== 'complete') {
      throw new DensekitError(`shard ${s.header.shard.index}/${s.header.shard.count} is unfinished (a prediction log): run its prediction again with --resume to finish it`, { file: s.path });
    }
  }
  const n = first.header.shard.count;
  const byIndex = new Map<number, ShardFile>();
  for (const s of shards) {
    const dup = byIndex.get(s.header.shard.index);
    if (dup) throw new DensekitError(`shard ${s.header.shard.index}/${n} is given twice (${dup.path} and ${s.path})`);
    byIndex.set(s.header.shard.index, s);
  }
  const missing = [...Array(n).keys()].filter((i) => !byIndex.has(i));
  if (missing.length > 0) {
    const list = missing.length > 8 ? `${missing.slice(0, 8).join(', ')}, … (${missing.length} in all)` : missing.join(', ');
    throw new DensekitError(`missing shard${missing.length > 1 ? 's' : ''} ${list} of ${n} (have ${shards.length}: ${shards.map((s) => s.path).slice(0, 3).join(', ')}${shards.length > 3 ? ', …' : ''})`);
  }
  return [...byIndex.keys()].sort((a, b) => a - b).map((i) => byIndex.get(i)!);
}

/**
 * Records of complete shards in the order of the full image list: image k
 * comes from shard k mod N. Checks that each shard holds exactly its images.
 */
export function forEachRecordInOrder(shards: ShardFile[], each: (rec: ImageRecord, shard: ShardFile) => void): void {
  const n = shards.length;
  const total = shards[0]!.header.images.total;
  // About 64 MiB of read buffers in all, however many shards.
  const chunkBytes = Math.max(64 << 10, Math.min(4 << 20, Math.floor((64 << 20) / n)));
  const readers = shards.map((s) => new LineReader(s.path, { chunkBytes }));
  const lines = shards.map(() => 1);
  try {
    readers.forEach((r, i) => parseHeaderLine(r.next(), shards[i]!.path));
    for (let k = 0; k < total; k++) {
      const i = k % n;
      const s = shards[i]!;
      const line = readers[i]!.next();
      lines[i]!++;
      if (!line) throw new DensekitError(`ends before image ${k}: the shard holds fewer images than its header says (${s.header.shard.images})`, { file: s.path });
      const rec = parseRecordLine(line, s.path, lines[i]!);
      if (rec.k !== k) throw new DensekitError(`line ${lines[i]}: record of image ${rec.k} where image ${k} was due (records must be in image order, once each)`, { file: s.path });
      each(rec, s);
    }
    readers.forEach((r, i) => {
      if (r.next() !== undefined || r.tail() > 0) throw new DensekitError('has more records than its shard of the image list', { file: shards[i]!.path });
    });
  } finally {
    for (const r of readers) r.close();
  }
}

/** The detections of one detector record (an empty list for a skipped image). */
export function recordResults(rec: ImageRecord, file: string): unknown[] {
  if (rec.skipped !== undefined) return [];
  if (!Array.isArray(rec.results)) throw new DensekitError(`record of image ${rec.k} has no "results" list`, { file });
  return rec.results as unknown[];
}

export interface MergeSummary {
  results: number;
  images: number;
  skipped: { file: string; reason: string }[];
  inputs: number;
}

/**
 * Write the results of detector shards, or of plain COCO results lists, as
 * one COCO results list (one detection per line), atomically.
 */
export function mergeDetections(inputs: ResultInputs, out: string): MergeSummary {
  let results = 0;
  let images = 0;
  const skipped: { file: string; reason: string }[] = [];
  if (inputs.kind === 'shards' && inputs.shards[0]!.header.task !== 'detection') {
    throw new DensekitError(`these are ${inputs.shards[0]!.header.task} shards: their label maps are already files; merging sums their areas (densekit merge writes the metrics)`);
  }
  writeFileAtomicStream(out, (sink) => {
    const w = new BufferedSink(sink);
    const put = (text: string) => {
      w.write(results === 0 ? '[\n' : ',\n');
      w.write(text);
      results++;
    };
    if (inputs.kind === 'shards') {
      forEachRecordInOrder(inputs.shards, (rec, s) => {
        images++;
        if (rec.skipped !== undefined) skipped.push({ file: rec.file, reason: skipReason(rec.file, rec.skipped) });
        for (const r of recordResults(rec, s.path)) put(JSON.stringify(r));
      });
    } else {
      for (const f of inputs.files) {
        forEachListElement(f, (text, i) => {
          // Re-written compactly; every value is kept (JSON numbers parse and print back to the same double).
          let v: unknown;
          try {
            v = JSON.parse(text);
          } catch (err) {
            throw new DensekitError(`invalid JSON (${(err as Error).message})`, { file: f, index: i });
          }
          put(JSON.stringify(v));
        });
      }
    }
    w.write(results === 0 ? '[]\n' : '\n]\n');
    w.flush();
  });
  return { results, images, skipped, inputs: inputs.kind === 'shards' ? inputs.shards.length : inputs.files.length };
}

/** Per-image class areas as a record holds them: [class, intersect, pred, label] for each class with any. */
export type AreaRows = [number, number, number, number][];

/** The areas of a semantic image record, summed into `ev` (SemanticEvaluator's counters). */
export function addAreas(ev: SemanticEvaluator, rows: AreaRows): void {
  for (const [c, inter, pred, label] of rows) {
    if (!Number.isInteger(c) || c < 0 || c >= ev.numClasses) throw new DensekitError(`area row names class ${c}, outside 0..${ev.numClasses - 1}`);
    ev.areaIntersect[c]! += inter;
    ev.areaPred[c]! += pred;
    ev.areaLabel[c]! += label;
  }
  ev.images++;
}

/** Options a semantic shard's header carries when it recorded areas against annotations. */
export interface AreaOptions {
  numClasses: number;
  reduceZeroLabel: boolean;
  ignoreIndex: number;
  /** The annotations' folder (absolute), where the data's class names are found; absent in shards written before it was recorded. */
  gtDir?: string;
}

/**
 * Sum the per-image areas of semantic shards: the mmseg metrics of the
 * whole set, exactly (the counts are integers), without reading a label map.
 * Classes are named as `eval ade20k` names them on the same annotations
 * (the data's classes.json, or ADE20K's for ADE20K); shards that do not
 * record their annotations' folder show classes by id.
 */
export function mergeSemanticAreas(shards: ShardFile[]): { report: SemanticEvalReport; labelMaps: number; skipped: { file: string; reason: string }[] } {
  const h = shards[0]!.header;
  if (h.task !== 'semantic') throw new DensekitError(`these are ${h.task} shards, not semantic ones`);
  const areas = h.options.areas as AreaOptions | null | undefined;
  if (!areas) {
    throw new DensekitError('these shards hold no areas (their prediction had no --gt-dir): their label maps are already in one folder; score them with densekit eval ade20k', { file: shards[0]!.path });
  }
  const gtDir = typeof areas.gtDir === 'string' ? areas.gtDir : undefined;
  // Read before the shards, so that a classes file that does not fit stops the merge before any work.
  const classNames = resolveClassNames({ dataDirs: [gtDir], labelMaps: true, count: areas.numClasses, countSource: "the shards' number of classes" });
  const ev = new SemanticEvaluator({ numClasses: areas.numClasses, reduceZeroLabel: areas.reduceZeroLabel, ignoreIndex: areas.ignoreIndex });
  let labelMaps = 0;
  const skipped: { file: string; reason: string }[] = [];
  forEachRecordInOrder(shards, (rec, s) => {
    if (rec.skipped !== undefined) {
      skipped.push({ file: rec.file, reason: skipReason(rec.file, rec.skipped) });
      return;
    }
    if (!Array.isArray(rec.areas)) throw new DensekitError(`record of image ${rec.k} has no "areas"`, { file: s.path });
    addAreas(ev, rec.areas as AreaRows);
    labelMaps++;
  });
  return { report: semanticReport({ ...ev.metrics(), images: ev.images, classNames }, areas.numClasses), labelMaps, skipped };
}
