import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSafetensors, readSafetensors, serializeSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import type { HostTensor } from '../../src/io/host-tensor.js';
import { DensekitError } from '../../src/util/errors.js';
import { fixture } from '../helpers/fixtures.js';

describe('safetensors', () => {
  it('reads the F32 and I64 fixtures with their shapes', () => {
    const f = readSafetensors(fixture('torch-ref', 'nms.safetensors'));
    const dtypes = new Set([...f.tensors.values()].map((t) => t.dtype));
    expect(dtypes.has('float32')).toBe(true);
    expect(dtypes.has('int64')).toBe(true);
  });

  it('round-trips every dtype and the metadata', () => {
    const tensors = new Map<string, HostTensor>([
      ['f32', { dtype: 'float32', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, -6.5]) }],
      ['f64', { dtype: 'float64', shape: [2], data: Float64Array.from([1e-300, 3]) }],
      ['i64', { dtype: 'int64', shape: [3], data: BigInt64Array.from([1n, -2n, 1n << 40n]) }],
      ['i32', { dtype: 'int32', shape: [1], data: Int32Array.from([-7]) }],
      ['u8', { dtype: 'uint8', shape: [2, 2], data: Uint8Array.from([0, 1, 254, 255]) }],
      ['bool', { dtype: 'bool', shape: [2], data: Uint8Array.from([0, 1]) }],
      ['f16', { dtype: 'float16', shape: [1], data: Uint16Array.from([0x3c00]) }],
      ['scalar', { dtype: 'float32', shape: [], data: Float32Array.from([42]) }],
    ]);
    const bytes = Buffer.concat(serializeSafetensors(tensors, { iteration: '12', config: '{"a":1}' }));
    const back = parseSafetensors(bytes);
    expect(back.metadata).toEqual({ iteration: '12', config: '{"a":1}' });
    for (const [k, t] of tensors) {
      const b = back.tensors.get(k)!;
      expect(b.dtype).toBe(t.dtype);
      expect(b.shape).toEqual(t.shape);
      expect(Array.from(b.data as ArrayLike<number | bigint>)).toEqual(Array.from(t.data as ArrayLike<number | bigint>));
    }
    // The header is padded so the data starts 8-byte aligned.
    expect(Number(bytes.readBigUInt64LE(0)) % 8).toBe(0);
  });

  it('reports truncation and a corrupt header with the file name', () => {
    const dir = mkdtempSync(join(tmpdir(), 'densekit-st-'));
    const t = new Map<string, HostTensor>([['w', { dtype: 'float32', shape: [64], data: new Float32Array(64) }]]);
    const full = Buffer.concat(serializeSafetensors(t));
    writeFileSync(join(dir, 'cut.safetensors'), full.subarray(0, full.length - 10));
    expect(() => readSafetensors(join(dir, 'cut.safetensors'))).toThrow(/cut\.safetensors: w: .*truncated/);
    const bad = Buffer.from(full);
    bad.write('!', 8);
    writeFileSync(join(dir, 'bad.safetensors'), bad);
    expect(() => readSafetensors(join(dir, 'bad.safetensors'))).toThrow(/bad\.safetensors: header is not valid JSON/);
    expect(() => readSafetensors(join(dir, 'missing.safetensors'))).toThrow(/missing\.safetensors: cannot read: ENOENT/);
  });

  it('writes atomically: no temp file is left and the target is complete', () => {
    const dir = mkdtempSync(join(tmpdir(), 'densekit-st-'));
    const p = join(dir, 'a.safetensors');
    const t = new Map<string, HostTensor>([['w', { dtype: 'float32', shape: [3], data: Float32Array.from([1, 2, 3]) }]]);
    writeSafetensors(p, t);
    writeSafetensors(p, t, { v: '2' });
    expect(readdirSync(dir)).toEqual(['a.safetensors']);
    expect(readSafetensors(p).metadata).toEqual({ v: '2' });
  });

  describe('hostile headers are DensekitErrors naming the file (and the tensor)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'densekit-st-'));
    /** A file whose header is `json` verbatim, followed by `data` bytes. */
    const file = (name: string, json: string, data = 64): string => {
      const body = Buffer.from(json, 'utf8');
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(body.length));
      const p = join(dir, name);
      writeFileSync(p, Buffer.concat([len, body, Buffer.alloc(data)]));
      return p;
    };
    const entry = (e: Record<string, unknown>) => JSON.stringify({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16], ...e } });
    const cases: [string, string, RegExp][] = [
      ['null', 'null', /null\.st: header is null, not a JSON object/],
      ['array', '[1,2]', /array\.st: header is an array, not a JSON object/],
      ['number', '42', /number\.st: header is a number, not a JSON object/],
      ['string', '"x"', /string\.st: header is a string, not a JSON object/],
      ['entry-null', '{"w":null}', /entry-null\.st: w: entry is not an object/],
      ['entry-num', '{"w":3}', /entry-num\.st: w: entry is not an object/],
      ['dtype', entry({ dtype: 'F8' }), /dtype\.st: w: unsupported dtype "F8"/],
      ['dtype-proto', entry({ dtype: 'toString' }), /dtype-proto\.st: w: unsupported dtype "toString"/],
      ['dtype-missing', entry({ dtype: undefined }), /dtype-missing\.st: w: unsupported dtype undefined/],
      ['no-shape', entry({ shape: undefined }), /no-shape\.st: w: entry lacks shape or data_offsets/],
      ['shape-neg', entry({ shape: [-4] }), /shape-neg\.st: w: shape \[-4\] is not a list of non-negative integers/],
      ['shape-frac', entry({ shape: [2.5] }), /shape-frac\.st: w: shape \[2\.5\] is not a list/],
      ['shape-str', entry({ shape: ['4'] }), /shape-str\.st: w: shape \["4"\] is not a list/],
      ['shape-null', entry({ shape: [null] }), /shape-null\.st: w: shape \[null\] is not a list/],
      ['shape-huge', entry({ shape: [2 ** 30, 2 ** 30, 2 ** 30] }), /shape-huge\.st: w: shape \[.*\] is too large/],
      ['off-frac', entry({ data_offsets: [0, 16.5] }), /off-frac\.st: w: data_offsets \[0,16\.5\] is not a pair of non-negative integers/],
      ['off-neg', entry({ data_offsets: [-16, 0] }), /off-neg\.st: w: data_offsets \[-16,0\] is not a pair/],
      ['off-str', entry({ data_offsets: ['0', '16'] }), /off-str\.st: w: data_offsets \["0","16"\] is not a pair/],
      ['off-three', entry({ data_offsets: [0, 16, 32] }), /off-three\.st: w: data_offsets \[0,16,32\] is not a pair/],
      ['off-reversed', entry({ data_offsets: [16, 0] }), /off-reversed\.st: w: data_offsets \[16, 0\) end before they begin/],
      ['off-span', entry({ data_offsets: [0, 12] }), /off-span\.st: w: data_offsets span 12 bytes, shape \[4\] needs 16/],
      ['off-beyond', entry({ data_offsets: [64, 80] }), /off-beyond\.st: w: data \[64, 80\) lies beyond the end of the file \(64 data bytes\): truncated/],
      ['meta-num', JSON.stringify({ __metadata__: { a: 1 } }), /meta-num\.st: __metadata__: metadata value "a" is not a string/],
      ['meta-arr', JSON.stringify({ __metadata__: ['a'] }), /meta-arr\.st: __metadata__: metadata is not an object of strings/],
      [
        'overlap',
        JSON.stringify({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }),
        /overlap\.st: b: data \[8, 16\) overlaps a's \[0, 16\)/,
      ],
    ];
    for (const [name, json, re] of cases) {
      it(name, () => {
        const p = file(`${name}.st`, json);
        expect(() => readSafetensors(p)).toThrow(re);
        expect(() => readSafetensors(p)).toThrow(DensekitError);
        expect(() => parseSafetensors(readFileSync(p), p)).toThrow(re);
      });
    }

    it('a header length beyond the file or the format limit', () => {
      const p = join(dir, 'len.st');
      const b = Buffer.alloc(64);
      b.writeBigUInt64LE(1000n);
      writeFileSync(p, b);
      expect(() => readSafetensors(p)).toThrow(/len\.st: header length 1000 exceeds the file size \(64 bytes\): truncated/);
      b.writeBigUInt64LE(1n << 62n);
      writeFileSync(p, b);
      expect(() => readSafetensors(p)).toThrow(/len\.st: header length 4611686018427387904 exceeds the format's 104857600-byte limit/);
      writeFileSync(p, b.subarray(0, 5));
      expect(() => readSafetensors(p)).toThrow(/len\.st: not a safetensors file/);
    });

    it('empty tensors and a null metadata are accepted; gaps between tensors are tolerated', () => {
      const p = file(
        'ok.st',
        JSON.stringify({
          __metadata__: null,
          e1: { dtype: 'F32', shape: [0], data_offsets: [8, 8] },
          e2: { dtype: 'I64', shape: [3, 0], data_offsets: [8, 8] },
          w: { dtype: 'F32', shape: [4], data_offsets: [16, 32] },
        }),
      );
      const f = readSafetensors(p);
      expect(f.metadata).toEqual({});
      expect(f.tensors.get('e2')!.shape).toEqual([3, 0]);
      expect(f.tensors.get('w')!.data.length).toBe(4);
    });
  });
});
