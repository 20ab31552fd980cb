import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { traceInWorker } from '../../src/tasks/trace-in-worker.js';
import { DensekitError } from '../../src/util/errors.js';
import { tinyDetectorConfig } from '../helpers/tiny-detector.js';
import { maxAbsDiff } from '../helpers/fixtures.js';
import { tf } from '../../src/engine/tf.js';
import { switchBackend } from '../../src/engine/backend.js';
import { withInitSeed } from '../../src/engine/random.js';
import { GeneralizedRCNN } from '../../src/detection/rcnn.js';
import { saveCheckpoint } from '../../src/io/checkpoint.js';
import { OrtGraph } from '../../src/engine/onnx/session.js';
import { detectorStages } from '../../src/tasks/detection/stages.js';

describe('tracing in a worker thread', () => {
  it('builds the model from its weights file and writes the graph the model computes', async () => {
    await switchBackend('wasm');
    const dir = mkdtempSync(join(tmpdir(), 'dk-trace-worker-'));
    const cfg = tinyDetectorConfig(true);
    const model = withInitSeed(3, () => new GeneralizedRCNN(cfg.model, cfg.input, 3)).eval();
    const weights = join(dir, 'model.safetensors');
    saveCheckpoint(weights, model, undefined, { format: 'densekit-checkpoint-1', iteration: 0, optimizerStep: 0, loaderPosition: 0, rngStates: model.rngStates(), config: JSON.stringify(cfg) });
    const file = join(dir, 'detector_dense_1x128x128x3.onnx');
    await traceInWorker({ task: 'detection', config: cfg, weights, graph: { kind: 'detector_dense', shape: [1, 128, 128, 3] } }, file);
    const x = tf.randomNormal([1, 128, 128, 3], 0, 1, 'float32', 6);
    const g = await OrtGraph.load(file, { threads: 1 });
    const out = await g.run({ images: { data: x.dataSync() as Float32Array, shape: x.shape } });
    await g.release();
    const pyramid = detectorStages(model).pyramid(x);
    expect(pyramid.size).toBeGreaterThan(0);
    for (const [level, t] of pyramid) expect(maxAbsDiff(out[level]!.data, t.dataSync()), level).toBeLessThan(1e-4);
    tf.dispose([x, ...pyramid.values()]);
    model.dispose();
  });

  it('reports bad input from the worker as a DensekitError naming the file, and writes no graph', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dk-trace-worker-'));
    const file = join(dir, 'detector_dense_1x128x128x3.onnx');
    const weights = join(dir, 'missing.safetensors');
    const job = { task: 'detection' as const, config: tinyDetectorConfig(true), weights, graph: { kind: 'detector_dense' as const, shape: [1, 128, 128, 3] } };
    const err = await traceInWorker(job, file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DensekitError);
    expect((err as Error).message).toContain(weights);
    expect(existsSync(file)).toBe(false);
  });
});
