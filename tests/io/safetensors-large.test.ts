import { afterAll, describe, expect, it } from 'vitest';
import { closeSync, ftruncateSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSafetensors, parseSafetensors, readSafetensors, writeSafetensors, type DeferredTensor } from '../../src/io/safetensors.js';
import { DensekitError } from '../../src/util/errors.js';
import type { HostTensor } from '../../src/io/host-tensor.js';

/*
 * Files beyond 2 and 4 GiB without gigabytes of disk: sparse files
 * (ftruncate) whose header is real and whose few meaningful bytes are written
 * at their far offsets; everything else reads as zeros and takes no space.
 */

const dir = mkdtempSync(join(tmpdir(), 'densekit-st-large-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const GiB = 2 ** 30;

/** The bytes of a header (length field + JSON padded to 8). */
function header(h: unknown): Buffer {
  let json = JSON.stringify(h);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const body = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(body.length));
  return Buffer.concat([len, body]);
}

/** A sparse file: `h` as its header, `dataLen` data bytes, `writes` placed at data offsets. */
function sparseFile(name: string, h: unknown, dataLen: number, writes: [number, Uint8Array][] = []): string {
  const p = join(dir, name);
  const head = header(h);
  const fd = openSync(p, 'w');
  try {
    writeSync(fd, head, 0, head.length, 0);
    ftruncateSync(fd, head.length + dataLen);
    for (const [off, bytes] of writes) writeSync(fd, bytes, 0, bytes.byteLength, head.length + off);
  } finally {
    closeSync(fd);
  }
  return p;
}

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe('safetensors beyond 4 GiB (sparse files)', () => {
  const far = 4.5 * GiB;
  const w = Float32Array.from([1.5, -2, 3.25, 1e-7]);
  const ids = BigInt64Array.from([7n, -1n, 1n << 40n]);
  const hdr = {
    __metadata__: { format: 'test' },
    pad: { dtype: 'U8', shape: [far], data_offsets: [0, far] },
    w: { dtype: 'F32', shape: [2, 2], data_offsets: [far, far + 16] },
    ids: { dtype: 'I64', shape: [3], data_offsets: [far + 16, far + 40] },
  };
  const big = sparseFile('big.safetensors', hdr, far + 40, [
    [far, bytesOf(w)],
    [far + 16, bytesOf(ids)],
  ]);

  it('opens with the header only and reads tensors past 4 GiB at their offsets', () => {
    const r = openSafetensors(big);
    try {
      expect(r.fileSize).toBeGreaterThan(far);
      expect(r.names).toEqual(['pad', 'w', 'ids']);
      expect(r.metadata).toEqual({ format: 'test' });
      expect(r.has('w')).toBe(true);
      expect(r.has('nope')).toBe(false);
      expect(r.entry('ids')).toMatchObject({ dtype: 'int64', shape: [3], dataOffsets: [far + 16, far + 40], byteLength: 24 });
      const headerBytes = r.stats.bytes;
      expect(headerBytes).toBe(r.dataStart);
      const t = r.read('w');
      expect(t.dtype).toBe('float32');
      expect(t.shape).toEqual([2, 2]);
      expect(Array.from(t.data as Float32Array)).toEqual(Array.from(w));
      expect(Array.from(r.read('ids').data as BigInt64Array)).toEqual(Array.from(ids));
      // Only the two small tensors were read after the header.
      expect(r.stats.bytes - headerBytes).toBe(40);
      expect(() => r.read('nope')).toThrow(/big\.safetensors: nope: no such tensor/);
    } finally {
      r.close();
    }
  });

  it('readSafetensors with a filter reads only the selected tensors', () => {
    const f = readSafetensors(big, { filter: (n) => n !== 'pad' });
    expect([...f.tensors.keys()]).toEqual(['w', 'ids']);
    expect(Array.from(f.tensors.get('w')!.data as Float32Array)).toEqual(Array.from(w));
    expect(f.metadata).toEqual({ format: 'test' });
  });

  it('reading one small tensor of a 4.5 GiB file allocates about that tensor, not the file', () => {
    globalThis.gc?.();
    const before = process.memoryUsage().arrayBuffers;
    const r = openSafetensors(big);
    const t = r.read('w');
    const after = process.memoryUsage().arrayBuffers;
    r.close();
    expect(t.data.length).toBe(4);
    // Header (~200 bytes) + 16 data bytes; allow for unrelated allocations.
    expect(after - before).toBeLessThan(1024 * 1024);
  });

  it('refuses a big file cut short, naming the file and the tensor that no longer fits', () => {
    const p = sparseFile('cut-big.safetensors', hdr, far + 40);
    truncateSync(p, header(hdr).length + far + 20);
    expect(() => openSafetensors(p)).toThrow(/cut-big\.safetensors: ids: data \[4831838224, 4831838248\) lies beyond the end of the file .*truncated/);
    expect(() => readSafetensors(p, { filter: (n) => n === 'w' })).toThrow(DensekitError);
  });

  it('reports a file that shrinks after opening as truncated, naming the tensor', () => {
    const p = sparseFile('shrinks.safetensors', hdr, far + 40);
    const r = openSafetensors(p);
    try {
      truncateSync(p, r.dataStart + far + 8);
      expect(() => r.read('w')).toThrow(/shrinks\.safetensors: w: file ends at byte \d+, 8 bytes short .*truncated/);
    } finally {
      r.close();
    }
  });

  it('refuses clearly a tensor with more elements than a typed array holds, and still reads the others', () => {
    const n = 2 ** 32 + 8;
    const p = sparseFile(
      'huge.safetensors',
      { huge: { dtype: 'U8', shape: [n], data_offsets: [0, n] }, w: { dtype: 'F32', shape: [4], data_offsets: [n, n + 16] } },
      n + 16,
      [[n, bytesOf(w)]],
    );
    const r = openSafetensors(p);
    try {
      expect(() => r.read('huge')).toThrow(/huge\.safetensors: huge: 4294967304 elements .* more than one typed array can hold/);
      expect(Array.from(r.read('w').data as Float32Array)).toEqual(Array.from(w));
    } finally {
      r.close();
    }
  });
});

describe('safetensors chunked reads and writes', () => {
  const tensors = new Map<string, HostTensor>([
    ['a', { dtype: 'float32', shape: [10, 25], data: Float32Array.from({ length: 250 }, (_, i) => i * 0.5 - 7) }],
    ['b', { dtype: 'int64', shape: [5], data: BigInt64Array.from([1n, -2n, 3n << 50n, 0n, -1n]) }],
    ['c', { dtype: 'uint8', shape: [13], data: Uint8Array.from({ length: 13 }, (_, i) => i * 19) }],
    ['d', { dtype: 'bfloat16', shape: [3], data: Uint16Array.from([0x3f80, 0xc000, 0x7fc0]) }],
    ['empty', { dtype: 'float32', shape: [0, 4], data: new Float32Array(0) }],
  ]);

  it('stitches tensors read in many small chunks into the same values', () => {
    const p = join(dir, 'chunks.safetensors');
    writeSafetensors(p, tensors, { k: 'v' }, { chunkBytes: 5 });
    const whole = parseSafetensors(readFileSync(p), p);
    const r = openSafetensors(p, { chunkBytes: 7 });
    try {
      for (const [name, t] of tensors) {
        const back = r.read(name);
        expect(back.shape, name).toEqual(t.shape);
        expect(Array.from(back.data as ArrayLike<number | bigint>), name).toEqual(Array.from(t.data as ArrayLike<number | bigint>));
        expect(Array.from(whole.tensors.get(name)!.data as ArrayLike<number | bigint>), name).toEqual(Array.from(t.data as ArrayLike<number | bigint>));
      }
      expect(r.stats.largestRead).toBeLessThanOrEqual(7);
      expect(r.stats.reads).toBeGreaterThan(1000 / 7);
    } finally {
      r.close();
    }
  });

  it('writes deferred tensors one at a time, in order, asking for each one once', () => {
    const p = join(dir, 'deferred.safetensors');
    const asked: string[] = [];
    const deferred = new Map<string, DeferredTensor>(
      [...tensors].map(([name, t]) => [
        name,
        {
          dtype: t.dtype,
          shape: t.shape,
          data: () => {
            asked.push(name);
            return t.data;
          },
        },
      ]),
    );
    writeSafetensors(p, deferred, { v: '1' }, { chunkBytes: 3 });
    expect(asked).toEqual([...tensors.keys()]);
    const f = readSafetensors(p);
    expect(f.metadata).toEqual({ v: '1' });
    for (const [name, t] of tensors) expect(Array.from(f.tensors.get(name)!.data as ArrayLike<number | bigint>)).toEqual(Array.from(t.data as ArrayLike<number | bigint>));
  });

  it('a tensor whose data does not fit its shape fails the write, leaving the old file and no temp file', () => {
    const sub = mkdtempSync(join(dir, 'w-'));
    const p = join(sub, 'ck.safetensors');
    writeSafetensors(p, tensors);
    const before = readFileSync(p);
    const bad = new Map<string, HostTensor | DeferredTensor>([
      ['a', tensors.get('a')!],
      ['z', { dtype: 'float32', shape: [4], data: () => new Float32Array(3) }],
    ]);
    expect(() => writeSafetensors(p, bad)).toThrow(/ck\.safetensors: z: 12 bytes of data for shape \[4\] \(float32\) which needs 16/);
    expect(readFileSync(p).equals(before)).toBe(true);
    expect(readdirSync(sub)).toEqual(['ck.safetensors']);
  });

  it('an unwritable target is a DensekitError naming it', () => {
    const blocker = join(dir, 'not-a-dir');
    writeFileSync(blocker, 'x');
    expect(() => writeSafetensors(join(blocker, 'a.safetensors'), tensors)).toThrow(/not-a-dir\/a\.safetensors: cannot write/);
  });
});

/*
 * Opt-in (DENSEKIT_LARGE_IO=1): a real 2.25 GiB tensor written and read back
 * through the default chunk size (needs ~5 GB of memory and 2.3 GB of disk).
 */
describe.runIf(process.env.DENSEKIT_LARGE_IO === '1')('safetensors with a real tensor over 2 GiB', () => {
  it('writes and reads back a 2.25 GiB tensor', () => {
    const n = 2.25 * GiB;
    const data = new Uint8Array(n);
    for (let i = 0; i < n; i += 4093) data[i] = (i / 4093) & 255;
    data[n - 1] = 77;
    const p = join(dir, 'real-big.safetensors');
    writeSafetensors(p, new Map([['x', { dtype: 'uint8', shape: [n], data }]]));
    const r = openSafetensors(p);
    try {
      const back = r.read('x').data as Uint8Array;
      expect(back.length).toBe(n);
      for (let i = 0; i < n; i += 4093) if (back[i] !== data[i]) throw new Error(`byte ${i} differs`);
      expect(back[n - 1]).toBe(77);
      expect(r.stats.largestRead).toBeLessThanOrEqual(256 * 2 ** 20);
    } finally {
      r.close();
      rmSync(p);
    }
  });
});
