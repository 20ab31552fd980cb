import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSafetensors, readSafetensors, serializeSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import type { HostTensor } from '../../src/io/host-tensor.js';
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
});
