import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { openForReading, writeFileAtomicStream, type ByteSink } from '../io/file-io.js';
import { DensekitError } from '../util/errors.js';
import type { TaskKind } from './task.js';
import { LineReader } from './json-stream.js';

/**
 * Prediction records: a JSON Lines file whose first line is a header naming
 * the run (weights, config, image list, options, shard) and whose other
 * lines are one record per image, `{"k": position in the sorted list,
 * "file": …, …}`. The same format serves as
 *
 * - the append-only log a prediction writes as it goes (`state:
 *   "partial"`): one line per finished image, written with one write call
 *   each and fsynced every few seconds, so a kill loses at most the image
 *   in flight; a torn last line is dropped when the log is reopened;
 * - a shard's final file (`state: "complete"`): the records in image
 *   order, each image once, written atomically when the shard is done.
 */

export const RECORDS_FORMAT = 'densekit-predictions';
export const RECORDS_VERSION = 1;

export interface RunHeader {
  densekit: typeof RECORDS_FORMAT;
  version: number;
  /** `partial`: a log still being written; `complete`: every image of the shard is recorded. */
  state: 'partial' | 'complete';
  task: TaskKind;
  /** A hash of what makes two shards parts of one run: task, weights, config, image list, options, shard count. */
  run: string;
  weights: { path: string; bytes: number; sha256: string };
  config: { file?: string; sha256: string };
  /** The full sorted image list the shards split: its length and a hash of its paths (and image ids). */
  images: { total: number; sha256: string };
  shard: { index: number; count: number; images: number };
  /** Task-specific settings that change the records (score threshold, category ids, label-map areas, …). */
  options: Record<string, unknown>;
  /** Informational: the engine, when the file was started. */
  engine?: string;
  created?: string;
  /** Complete files: how many results (detection) or label maps (semantic) the records hold. */
  count?: number;
}

/** One image's record. `skipped` when the image could not be read. */
export interface ImageRecord {
  k: number;
  file: string;
  skipped?: string;
  [key: string]: unknown;
}

/**
 * Why an image was skipped, without its file name in front (the reason is
 * often a located error message, and the file is named beside it).
 */
export function skipReason(file: string, reason: string): string {
  return reason.startsWith(`${file}: `) ? reason.slice(file.length + 2) : reason;
}

/** JSON with object keys sorted: a stable text to hash. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

export function sha256Of(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** SHA-256 of a file's bytes, read in 8 MiB pieces (a 1.4 GB checkpoint takes about a second). */
export function hashFile(path: string): { bytes: number; sha256: string } {
  const fd = openForReading(path);
  try {
    const h = createHash('sha256');
    const buf = Buffer.allocUnsafe(8 << 20);
    let bytes = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      bytes += n;
    }
    return { bytes, sha256: h.digest('hex') };
  } finally {
    closeSync(fd);
  }
}

/** The identity hash of a header (everything but the shard index, the state and the informational fields). */
export function runIdentity(h: Omit<RunHeader, 'run'>): string {
  return sha256Of(
    canonicalJson({
      task: h.task,
      weights: { bytes: h.weights.bytes, sha256: h.weights.sha256 },
      config: h.config.sha256,
      images: h.images,
      shards: h.shard.count,
      options: h.options,
    }),
  ).slice(0, 32);
}

/**
 * Why two headers are not parts of one run, in words (the first field that
 * differs), or undefined when they are.
 */
export function runDifference(a: RunHeader, b: RunHeader): string | undefined {
  if (a.run === b.run) return undefined;
  const short = (s: string) => s.slice(0, 12);
  if (a.task !== b.task) return `task ${a.task} vs ${b.task}`;
  if (a.weights.sha256 !== b.weights.sha256 || a.weights.bytes !== b.weights.bytes) {
    return `weights differ (${a.weights.path}, ${a.weights.bytes} bytes, sha256 ${short(a.weights.sha256)}… vs ${b.weights.path}, ${b.weights.bytes} bytes, sha256 ${short(b.weights.sha256)}…)`;
  }
  if (a.config.sha256 !== b.config.sha256) return `model/input config differs (${a.config.file ?? '?'} sha256 ${short(a.config.sha256)}… vs ${b.config.file ?? '?'} ${short(b.config.sha256)}…)`;
  if (a.images.total !== b.images.total || a.images.sha256 !== b.images.sha256) {
    return `image lists differ (${a.images.total} images, sha256 ${short(a.images.sha256)}… vs ${b.images.total} images, ${short(b.images.sha256)}…)`;
  }
  if (a.shard.count !== b.shard.count) return `shard counts differ (${a.shard.count} vs ${b.shard.count})`;
  if (canonicalJson(a.options) !== canonicalJson(b.options)) return `options differ (${canonicalJson(a.options).slice(0, 200)} vs ${canonicalJson(b.options).slice(0, 200)})`;
  return `run ids differ (${a.run} vs ${b.run})`;
}

/** The first line of a file parsed as a records header, or undefined when it is not one (or is torn). */
export function readHeader(path: string): RunHeader | undefined {
  const r = new LineReader(path, { chunkBytes: 64 << 10 });
  try {
    const line = r.next();
    if (!line) return undefined;
    const h = JSON.parse(line.toString('utf8')) as RunHeader;
    return h && typeof h === 'object' && h.densekit === RECORDS_FORMAT ? h : undefined;
  } catch {
    return undefined;
  } finally {
    r.close();
  }
}

/** Read bytes [offset, offset + length) of an open file. */
function readAt(fd: number, offset: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, offset + got);
    if (n === 0) throw new Error(`short read at ${offset + got}`);
    got += n;
  }
  return buf;
}

/** A byte sink that gathers small writes into pieces of about 1 MiB. */
export class BufferedSink {
  private parts: Buffer[] = [];
  private size = 0;
  constructor(private readonly sink: ByteSink) {}

  write(data: string | Buffer): void {
    const b = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    this.parts.push(b);
    this.size += b.length;
    if (this.size >= 1 << 20) this.flush();
  }

  flush(): void {
    if (this.size === 0) return;
    this.sink.write(this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size));
    this.parts = [];
    this.size = 0;
  }
}

/** Seconds between fsyncs of a log (a kill loses nothing written; this bounds what a machine crash loses). */
const FSYNC_SECONDS = 10;

/**
 * The append-only log of one prediction: a header line, then one record per
 * finished image. Reopened with `resume`, its records count as done (the
 * last record of an image wins; skipped images are tried again) and a torn
 * last line is cut off before anything is appended.
 */
export class RecordLog {
  /** The last complete record of each image: offset and length in the file, and whether it was a skip. */
  private readonly index = new Map<number, { offset: number; length: number; skipped: boolean }>();
  private fd: number;
  private size: number;
  private lastSync = Date.now();

  private constructor(
    readonly path: string,
    readonly header: RunHeader,
    fd: number,
    size: number,
  ) {
    this.fd = fd;
    this.size = size;
  }

  /**
   * Open the log at `path` for a run. With `resume`, an existing log of the
   * same run (and shard) is continued; one of another run is refused, naming
   * what differs. Without `resume`, an existing log is replaced.
   * `note` says what happened, for the user.
   */
  static open(path: string, header: RunHeader, opts: { resume: boolean }): { log: RecordLog; note?: string } {
    mkdirSync(dirname(path), { recursive: true });
    let note: string | undefined;
    if (existsSync(path)) {
      const old = readHeader(path);
      if (opts.resume && old) {
        const diff = runDifference(old, header) ?? (old.shard.index !== header.shard.index ? `shard ${old.shard.index} vs ${header.shard.index}` : undefined);
        if (diff) throw new DensekitError(`this log belongs to another run (${diff}): delete it, or run without --resume to start over`, { file: path });
        const fd = openSync(path, 'r+');
        const log = new RecordLog(path, header, fd, 0);
        const { end, size } = log.scan();
        if (end < size) {
          ftruncateSync(fd, end);
          note = `dropped a torn last line (${size - end} bytes)`;
        }
        log.size = end;
        return { log, note };
      }
      note = opts.resume ? 'the log had no readable header: starting over' : 'an earlier log was replaced (--resume continues one instead)';
    }
    const fd = openSync(path, 'w+');
    const log = new RecordLog(path, header, fd, 0);
    log.writeLine(JSON.stringify(header));
    fsyncSync(fd);
    return { log, note };
  }

  /** Index the records of the file (after the header); returns the offset past the last good line and the file's size. */
  private scan(): { end: number; size: number } {
    const r = new LineReader(this.path);
    try {
      r.next(); // the header
      let end = r.offset;
      for (let offset = r.offset, line = r.next(); line; offset = r.offset, line = r.next()) {
        let rec: ImageRecord;
        try {
          rec = JSON.parse(line.toString('utf8')) as ImageRecord;
        } catch {
          // Only a last line can be torn; whatever follows a bad line is dropped with it.
          break;
        }
        if (typeof rec.k !== 'number') break;
        this.index.set(rec.k, { offset, length: line.length, skipped: rec.skipped !== undefined });
        end = r.offset;
      }
      return { end, size: r.size };
    } finally {
      r.close();
    }
  }

  /** Whether image k has a record that is not a skip. */
  done(k: number): boolean {
    const e = this.index.get(k);
    return e !== undefined && !e.skipped;
  }

  /** Images with a finished (not skipped) record. */
  get doneCount(): number {
    let n = 0;
    for (const e of this.index.values()) if (!e.skipped) n++;
    return n;
  }

  private writeLine(text: string): void {
    const buf = Buffer.from(`${text}\n`, 'utf8');
    let off = 0;
    // One write call for the line: a kill leaves it whole or torn at the end of the file, never interleaved.
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off, this.size + off);
    this.size += buf.length;
  }

  /** Append one image's record (a line, written at once; fsynced every few seconds). */
  append(rec: ImageRecord): void {
    const offset = this.size;
    const text = JSON.stringify(rec);
    this.writeLine(text);
    this.index.set(rec.k, { offset, length: Buffer.byteLength(text), skipped: rec.skipped !== undefined });
    if (Date.now() - this.lastSync >= FSYNC_SECONDS * 1000) {
      fsyncSync(this.fd);
      this.lastSync = Date.now();
    }
  }

  /** The record of image k as written, or undefined. */
  record(k: number): ImageRecord | undefined {
    const e = this.index.get(k);
    if (!e) return undefined;
    return JSON.parse(readAt(this.fd, e.offset, e.length).toString('utf8')) as ImageRecord;
  }

  /** The record's bytes (one JSON line without its newline). */
  recordBytes(k: number): Buffer | undefined {
    const e = this.index.get(k);
    return e ? readAt(this.fd, e.offset, e.length) : undefined;
  }

  close(): void {
    if (this.fd < 0) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = -1;
  }

  /** Close and delete the log (its content is in the final file). */
  remove(): void {
    this.close();
    rmSync(this.path, { force: true });
  }
}

/**
 * Write a complete records file atomically: the header (state complete,
 * `count` set), then the log's record of each position in `order`.
 */
export function writeRecordsFile(path: string, header: RunHeader, log: RecordLog, order: readonly number[]): void {
  writeFileAtomicStream(path, (sink) => {
    const out = new BufferedSink(sink);
    out.write(`${JSON.stringify(header)}\n`);
    for (const k of order) {
      const bytes = log.recordBytes(k);
      if (!bytes) throw new DensekitError(`no record for image ${k}`, { file: log.path });
      out.write(bytes);
      out.write('\n');
    }
    out.flush();
  });
}

/** A records file read line by line: the header is checked and returned, each record handed to `each`. */
export function readRecords(path: string, each: (rec: ImageRecord, line: number) => void): RunHeader {
  if (!existsSync(path)) throw new DensekitError('no such file', { file: path });
  if (statSync(path).isDirectory()) throw new DensekitError('is a folder, not a records file', { file: path });
  const r = new LineReader(path);
  try {
    const header = parseHeaderLine(r.next(), path);
    for (let n = 2, line = r.next(); line; n++, line = r.next()) each(parseRecordLine(line, path, n), n);
    if (r.tail() > 0 && header.state === 'complete') throw new DensekitError(`a complete file ends in a partial line (${r.tail()} bytes): truncated`, { file: path });
    return header;
  } finally {
    r.close();
  }
}

/** The header line of a records file, checked. */
export function parseHeaderLine(line: Buffer | undefined, path: string): RunHeader {
  if (!line) throw new DensekitError('empty file (or no complete first line)', { file: path });
  let v: unknown;
  try {
    v = JSON.parse(line.toString('utf8'));
  } catch {
    v = undefined;
  }
  if (!v || typeof v !== 'object' || (v as RunHeader).densekit !== RECORDS_FORMAT) throw new DensekitError('not a densekit predictions file (its first line is not a header)', { file: path });
  const h = v as RunHeader;
  if (h.version !== RECORDS_VERSION) throw new DensekitError(`predictions file version ${h.version}; this densekit reads version ${RECORDS_VERSION}`, { file: path });
  return h;
}

/** One record line, checked. */
export function parseRecordLine(line: Buffer, path: string, lineNo: number): ImageRecord {
  let rec: ImageRecord;
  try {
    rec = JSON.parse(line.toString('utf8')) as ImageRecord;
  } catch (err) {
    throw new DensekitError(`line ${lineNo} is not JSON (${(err as Error).message})`, { file: path });
  }
  if (!rec || typeof rec !== 'object' || typeof rec.k !== 'number' || typeof rec.file !== 'string') throw new DensekitError(`line ${lineNo}: not an image record (needs "k" and "file")`, { file: path });
  return rec;
}
