import { describe, expect, it, vi } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

vi.mock('onnxruntime-node', () => {
  throw new Error('libonnxruntime.so.1: cannot open shared object file');
});

const { chooseEngine, describeEngine } = await import('../../src/tasks/engine.js');
const { OrtGraph } = await import('../../src/engine/onnx/session.js');

describe('choosing the inference engine when onnxruntime-node cannot load', () => {
  it('falls back to tfjs by default and says why; refuses an explicit --engine onnx', async () => {
    const e = await chooseEngine(undefined);
    expect(e.name).toBe('tfjs');
    expect(describeEngine(e)).toMatch(/^engine: tfjs \(onnxruntime-node cannot be loaded \(.+\); the dense stages run on tfjs\)$/);
    await expect(chooseEngine('onnx')).rejects.toThrow(/--engine onnx: onnxruntime-node cannot be loaded/);
    expect((await chooseEngine('tfjs')).reason).toMatch(/asked for/);
  });

  it('checks the options it is given', async () => {
    await expect(chooseEngine('gpu')).rejects.toThrow('--engine must be onnx or tfjs, got gpu');
    await expect(chooseEngine(undefined, { device: 'tpu' })).rejects.toThrow('--device must be cpu, webgpu or cuda');
    await expect(chooseEngine(undefined, { threads: 0 })).rejects.toThrow('--threads must be a positive integer');
  });

  it('a graph file cannot be loaded: one line naming the file', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'dk-ort-')), 'g.onnx');
    writeFileSync(file, 'not a graph');
    await expect(OrtGraph.load(file)).rejects.toThrow(`${file}: onnxruntime-node cannot be loaded`);
  });
});
