import { EvalInputError } from '../errors.js';
import { mentionsCounts, parseJson, readBytes } from './json-file.js';
import { SPAN } from './helper-protocol.js';
import { HelperThread, summarizeSerially } from './helper-thread.js';
import type { Bbox } from './rle.js';
import { BytesRle, Summary } from './rle-bytes.js';
import { Field, scanResults, type ScannedResults } from './results-scanner.js';
import { checkBox, checkResultRle, checkRleTotal, isNum } from './validate.js';
import type { CocoAnnotation, CocoResult } from './types.js';

/**
 * Detections loaded as pycocotools' loadRes loads them (`Coco.loadRes`,
 * `Coco.loadResFile`): from a list of objects, or from a results file —
 * scanned from its bytes where it has the usual shape (results-scanner.ts),
 * its masks summarised on this thread or with a helper thread, else parsed
 * with JSON.parse. Both paths give the same annotations and the same errors.
 */

const EMPTY_BOX: number[] = [];

/** Results files from this size on are worth a helper thread (about 20,000 masks). */
const PARALLEL_BYTES = 6 << 20;

export interface LoadResOptions {
  /**
   * Threads that summarise the masks: 1 = this thread only; 2 = this one and
   * a worker thread. By default a worker helps only with files of 6 MiB or
   * more (about 20,000 masks), where it pays for its start.
   */
  threads?: 1 | 2;
}

/** Mask boxes found while loading: result i's at boxes[4i..4i+4), where known[i] is 1. */
export interface LoadedBoxes {
  boxes: Float64Array;
  known: Uint8Array;
}

/** What loading results needs of the ground truth (a Coco), and how it makes the results' Coco (R). */
export interface ResultsHost<R> {
  readonly imgs: ReadonlyMap<number, unknown>;
  readonly cats: ReadonlyMap<number, unknown>;
  /** The results over the ground truth's images, with the mask boxes found while loading, if any. */
  resultsCoco(anns: CocoAnnotation[], file: string, unknownCats: number, loaded: LoadedBoxes | null): R;
  /** Have `helper` rasterise the ground truth's polygons while the results load; `finish()` keeps them. */
  rasterizeLater(helper: HelperThread): { finish(): void };
}

/** The `bbox` of scanned entry i (at row o), checked as checkBox checks it. */
function scannedBox(f: Float64Array, o: number, file: string, i: number): number[] {
  const b = [f[o + Field.Bbox]!, f[o + Field.Bbox + 1]!, f[o + Field.Bbox + 2]!, f[o + Field.Bbox + 3]!];
  // Finite numbers pass; checkBox words the error otherwise.
  return Number.isFinite(b[0]! + b[1]! + b[2]! + b[3]!) ? b : checkBox(b, file, i);
}

/** A result's annotation as loadRes makes it (id i + 1, iscrowd 0), its ids and score checked. */
function resultAnnotation(imgs: ReadonlyMap<number, unknown>, i: number, imageId: unknown, categoryId: unknown, score: unknown, file: string): CocoAnnotation {
  if (!isNum(imageId)) throw new EvalInputError('image_id must be a number', file, i, 'image_id');
  if (!imgs.has(imageId)) throw new EvalInputError(`image_id ${imageId} is not an image of the ground truth`, file, i, 'image_id');
  if (!isNum(categoryId)) throw new EvalInputError('category_id must be a number', file, i, 'category_id');
  if (!isNum(score)) throw new EvalInputError('score must be a number', file, i, 'score');
  // A fixed object shape (not a spread of the input) keeps loading 10^6 results fast.
  return { id: i + 1, image_id: imageId, category_id: categoryId, score, iscrowd: 0, area: 0, bbox: EMPTY_BOX, segmentation: undefined };
}

/** Coco.loadRes: detections (parsed JSON) as a results dataset over the host's images. */
export function loadResults<R>(host: ResultsHost<R>, results: unknown, file: string): R {
  if (!Array.isArray(results)) throw new EvalInputError('not a COCO results file: expected a JSON list of detections', file);
  if (results.length === 0) throw new EvalInputError('results file has no detections', file);
  const first = results[0] as Record<string, unknown>;
  const isBbox = typeof first === 'object' && first !== null && 'bbox' in first && !(Array.isArray(first.bbox) && first.bbox.length === 0);
  const isSegm = !isBbox && typeof first === 'object' && first !== null && 'segmentation' in first;
  if (!isBbox && !isSegm) throw new EvalInputError('results must carry "bbox" or "segmentation"', file, 0);
  const anns: CocoAnnotation[] = new Array(results.length);
  // Segm results are only summarised here; their runs are decoded on demand (annToRle).
  const maskBoxes: (Bbox | undefined)[] = new Array(results.length);
  let unknownCats = 0;
  for (let i = 0; i < results.length; i++) {
    const r = results[i] as CocoResult & Record<string, unknown>;
    if (typeof r !== 'object' || r === null) throw new EvalInputError('must be an object', file, i);
    const ann = resultAnnotation(host.imgs, i, r.image_id, r.category_id, r.score, file);
    if (!host.cats.has(ann.category_id)) unknownCats++;
    ann.segmentation = r.segmentation;
    if (isBbox) {
      const bb = checkBox(r.bbox, file, i);
      ann.bbox = bb;
      ann.area = bb[2]! * bb[3]!;
      // pycocotools gives box results a box polygon as segmentation; annToRle
      // derives it on demand instead of storing 10^6 polygons.
    } else {
      if (r.segmentation === undefined) throw new EvalInputError('missing segmentation', file, i, 'segmentation');
      const summary = checkResultRle(r.segmentation, file, i);
      maskBoxes[i] = summary.bbox;
      ann.area = summary.area;
      ann.bbox = r.bbox !== undefined ? checkBox(r.bbox, file, i) : summary.bbox;
    }
    anns[i] = ann;
  }
  if (isBbox) return host.resultsCoco(anns, file, unknownCats, null);
  const boxes = new Float64Array(4 * anns.length);
  maskBoxes.forEach((b, i) => boxes.set(b!, 4 * i));
  return host.resultsCoco(anns, file, unknownCats, { boxes, known: new Uint8Array(anns.length).fill(1) });
}

/**
 * loadResults of results read from a file's bytes (results-scanner.ts), or
 * null when an entry needs the general path — which then also words the
 * error, so both paths fail alike.
 */
function loadScannedResults<R>(host: ResultsHost<R>, sc: ScannedResults, bytes: Uint8Array, file: string, helper: HelperThread | null): R | null {
  const n = sc.length;
  const f = sc.data;
  const S = Field.Stride;
  // As loadResults: the first result's keys pick the branch (the scanner only accepts a 4-number bbox).
  const isBbox = f[Field.HasBbox] === 1;
  // The masks to summarise, as spans into the bytes (shared with the helper thread when there is one).
  const masks: number[] = [];
  for (let i = 0; i < n; i++) if (f[i * S + Field.HasSegm]) masks.push(i);
  if (!isBbox && masks.length !== n) return null;
  const m = masks.length;
  const spans = new Float64Array(helper ? new SharedArrayBuffer(8 * SPAN * m) : new ArrayBuffer(8 * SPAN * m));
  masks.forEach((i, k) => {
    const o = i * S;
    spans[SPAN * k] = f[o + Field.Height]!;
    spans[SPAN * k + 1] = f[o + Field.Width]!;
    spans[SPAN * k + 2] = f[o + Field.CountsStart]!;
    spans[SPAN * k + 3] = f[o + Field.CountsEnd]!;
  });
  const job = helper ? helper.summarize(bytes, spans, m) : summarizeSerially(bytes, spans, m);
  job.finish();
  const { out, ok } = job;
  const anns: CocoAnnotation[] = new Array(n);
  const boxes = new Float64Array(4 * n);
  const known = new Uint8Array(n);
  let unknownCats = 0;
  let k = 0;
  try {
    for (let i = 0; i < n; i++) {
      const o = i * S;
      const ann = resultAnnotation(host.imgs, i, f[o + Field.ImageId], f[o + Field.CategoryId], f[o + Field.Score], file);
      if (!host.cats.has(ann.category_id)) unknownCats++;
      if (isBbox) {
        if (!f[o + Field.HasBbox]) return null;
        const bb = scannedBox(f, o, file, i);
        ann.bbox = bb;
        ann.area = bb[2]! * bb[3]!;
      }
      if (f[o + Field.HasSegm]) {
        if (!ok[k]) return null;
        const h = f[o + Field.Height]!;
        const w = f[o + Field.Width]!;
        const s = Summary.Length * k++;
        const x = out[s + Summary.Box]!;
        const y = out[s + Summary.Box + 1]!;
        const bw = out[s + Summary.Box + 2]!;
        const bh = out[s + Summary.Box + 3]!;
        boxes[4 * i] = x;
        boxes[4 * i + 1] = y;
        boxes[4 * i + 2] = bw;
        boxes[4 * i + 3] = bh;
        known[i] = 1;
        ann.segmentation = new BytesRle(bytes, f[o + Field.CountsStart]!, f[o + Field.CountsEnd]!, h, w);
        // A box result's mask is not checked against its size: loadRes does not check it.
        if (!isBbox) {
          checkRleTotal(out[s + Summary.Total]!, h, w, file, i);
          ann.area = out[s + Summary.Area]!;
          // Checked after the mask, as loadRes checks it.
          ann.bbox = f[o + Field.HasBbox] ? scannedBox(f, o, file, i) : [x, y, bw, bh];
        }
      }
      anns[i] = ann;
    }
    return host.resultsCoco(anns, file, unknownCats, { boxes, known });
  } catch (err) {
    // The general path reports it — and whichever error comes first there.
    if (err instanceof EvalInputError) return null;
    throw err;
  }
}

/**
 * Coco.loadResFile: a file of the usual shape is read from its bytes (for
 * the benchmark's 10^5 masks: scanned in 60–130 ms, where JSON.parse alone
 * took about 230 ms); any other is parsed with JSON.parse and loaded by
 * loadResults.
 */
export function loadResultsFile<R>(host: ResultsHost<R>, path: string, options: LoadResOptions): R {
  // Large mask results are loaded with a helper thread. It starts with the
  // ground truth's polygons, which mask evaluation needs next, while this
  // thread scans the file; then both summarise the masks.
  const bytes = readBytes(path, options.threads !== 1);
  const wanted = options.threads === 2 || (options.threads === undefined && bytes.length >= PARALLEL_BYTES);
  const helper = wanted && mentionsCounts(bytes) ? HelperThread.start() : null;
  try {
    const polygons = helper ? host.rasterizeLater(helper) : null;
    const scanned = scanResults(bytes);
    const res = (scanned && loadScannedResults(host, scanned, bytes, path, helper)) ?? loadResults(host, parseJson(bytes, path), path);
    polygons?.finish();
    return res;
  } finally {
    helper?.close();
  }
}
