import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { switchBackend, type BackendName } from '../../src/engine/backend.js';
import { gpuMemory, webGpuBackend, WebGpuFatalError } from '../../src/engine/webgpu/index.js';
import { Conv2d } from '../../src/engine/layers/conv2d.js';
import { ConvTranspose2d } from '../../src/engine/layers/conv-transpose2d.js';
import { Linear } from '../../src/engine/layers/linear.js';
import { LayerNorm } from '../../src/engine/layers/layer-norm.js';
import { gelu } from '../../src/engine/layers/activations.js';
import { maxPool2d, subsample } from '../../src/engine/layers/pooling.js';
import { gatherRows } from '../../src/engine/ops/gather.js';
import { depthwiseConv2d } from '../../src/engine/ops/depthwise-conv2d.js';
import { roiAlign } from '../../src/engine/ops/roi-align.js';
import { attentionCore } from '../../src/engine/ops/attention-core.js';
import { msDeformAttnCore } from '../../src/engine/ops/ms-deform-attn-core.js';
import { withInitSeed } from '../../src/engine/random.js';
import { Beit3Encoder } from '../../src/backbone/beit3.js';
import { BEIT3_SIZES } from '../../src/backbone/sizes.js';
import { readBeit3Weights, loadBeit3Weights } from '../../src/backbone/convert/load-beit3.js';
import { toTf } from '../../src/io/host-tensor.js';
import { fixture, get, maxAbsDiff, nchwToNhwc, torchRef, values } from '../helpers/fixtures.js';
import { webgpuAvailability } from './adapter.js';

const gpu = webgpuAvailability('webgpu/ops.test');

/** Run `f` on wasm and on webgpu; its results, read back to the host. */
async function onBoth(f: () => Tensor[]): Promise<Record<'wasm' | 'webgpu', Float32Array[]>> {
  const out = {} as Record<'wasm' | 'webgpu', Float32Array[]>;
  for (const be of ['wasm', 'webgpu'] as BackendName[]) {
    await switchBackend(be);
    out[be as 'wasm' | 'webgpu'] = tf.tidy(() => f()).map((t) => {
      const v = Float32Array.from(t.dataSync());
      t.dispose();
      return v;
    });
  }
  return out;
}

/** Largest difference relative to the largest magnitude (at least 1). */
function relDiff(a: Float32Array, b: Float32Array): number {
  let scale = 1;
  for (const v of a) scale = Math.max(scale, Math.abs(v));
  return maxAbsDiff(a, b) / scale;
}

function expectSame(r: Record<'wasm' | 'webgpu', Float32Array[]>, tol = 1e-4, names: string[] = []): void {
  expect(r.webgpu).toHaveLength(r.wasm.length);
  r.wasm.forEach((w, i) => expect(relDiff(w, r.webgpu[i]!), names[i] ?? `output ${i}`).toBeLessThan(tol));
}

describe.skipIf(!gpu.ok)(`webgpu ops and gradients equal wasm (${gpu.adapter})`, () => {
  it('conv, 2x2 and 3x3 deconv, depthwise conv, linear, gather, layer norm, GELU, max pool: forward and every gradient', async () => {
    const names = ['loss', 'conv.w', 'conv.b', 'pw.w', 'pw.b', 'up.w', 'up.b', 'up3.w', 'up3.b', 'dw', 'ln.w', 'ln.b', 'fc.w', 'fc.b', 'table'];
    const r = await onBoth(() => {
      const { conv, pw, up, up3, norm, fc } = withInitSeed(7, () => ({
        conv: new Conv2d(3, 8, 3, { stride: 2, padding: 1 }),
        pw: new Conv2d(8, 8, 1),
        up: new ConvTranspose2d(8, 4, 2, 2),
        up3: new ConvTranspose2d(4, 4, 3, 2),
        norm: new LayerNorm(4),
        fc: new Linear(4, 5),
      }));
      const dw = tf.variable(tf.randomNormal([3, 3, 4, 1], 0, 0.3, 'float32', 3));
      const table = tf.variable(tf.randomNormal([10, 5], 0, 1, 'float32', 4));
      const x = tf.randomNormal([2, 9, 11, 3], 0, 1, 'float32', 5);
      const idx = tf.tensor1d([3, 3, 0, 9, 1], 'int32');
      const vars = [conv, pw, up, up3].flatMap((m) => m.namedParameters().map(([, v]) => v));
      vars.push(dw, ...norm.namedParameters().map(([, v]) => v), ...fc.namedParameters().map(([, v]) => v), table);
      const { value, grads } = tf.variableGrads(() => {
        let h: Tensor = gelu(conv.forward(x));
        h = tf.relu(pw.forward(h));
        h = up3.forward(up.forward(h));
        h = depthwiseConv2d(h as tf.Tensor4D, dw as unknown as tf.Tensor4D, 1);
        h = norm.forward(maxPool2d(h, 2, 2));
        const pooled = tf.mean(fc.forward(h), [1, 2]);
        return tf.sum(tf.square(tf.matMul(pooled, gatherRows(table, idx))));
      }, vars);
      const out = [value, ...vars.map((v) => grads[v.name]!)];
      for (const v of vars) v.dispose();
      return out;
    });
    expectSame(r, 1e-4, names);
  });

  it('BEiT-3 ViTDet (windows, global blocks, rel-pos) equals the torch reference fixture', async () => {
    await switchBackend('webgpu');
    const ref = torchRef('vitdet_window.safetensors');
    const { tensors } = readBeit3Weights(fixture('torch-ref', 'beit3_tiny.pth'));
    const enc = new Beit3Encoder({
      ...BEIT3_SIZES.tiny,
      patchSize: 16,
      pretrainImgSize: 64,
      layernormEps: 1e-5,
      dropPathRate: 0,
      windowSize: 3,
      globalBlocks: [1, 3],
      useRelPos: true,
      relPosGlobalGrid: 6,
      clsToken: false,
      finalNorm: false,
    }).eval();
    loadBeit3Weights(enc, tensors);
    for (let i = 0; i < 4; i++) for (const hw of ['h', 'w']) enc.stateDict().get(`blocks.${i}.attn.rel_pos_${hw}`)!.assign(toTf(get(ref, `rel_pos.${i}.rel_pos_${hw}`)));
    const x = nchwToNhwc(get(ref, 'input'));
    const out = enc.forward(tf.tensor(x.data, x.shape), { keepHidden: true });
    out.hidden.forEach((h, i) => expect(maxAbsDiff(h.dataSync(), values(get(ref, `block${i}_out_nhwc`))), `block ${i}`).toBeLessThan(1e-4));
    expect(maxAbsDiff(out.map.dataSync(), nchwToNhwc(get(ref, 'final_feature_nchw')).data)).toBeLessThan(1e-4);
    enc.dispose();
  });

  it('ROIAlign equals torchvision (fixture) and its feature gradient equals wasm', async () => {
    await switchBackend('webgpu');
    const ref = torchRef('roi_align.safetensors');
    const x = nchwToNhwc(get(ref, 'input'));
    const rows = values(get(ref, 'boxes_for_scale0.25'));
    const k = rows.length / 5;
    const boxes = new Float32Array(k * 4);
    const bi: number[] = [];
    for (let i = 0; i < k; i++) {
      bi.push(rows[i * 5]!);
      boxes.set(rows.subarray(i * 5 + 1, i * 5 + 5), i * 4);
    }
    const opts = { outputSize: 7, spatialScale: 0.25, samplingRatio: 0, aligned: true };
    const out = roiAlign(tf.tensor(x.data, x.shape), boxes, bi, opts);
    expect(maxAbsDiff(out.dataSync(), nchwToNhwc(get(ref, 'out_os7_scale0.25_sr0_aligned1')).data)).toBeLessThan(1e-5);
    const r = await onBoth(() => {
      const f = tf.tensor(x.data, x.shape);
      const w = tf.randomNormal([k, 7, 7, x.shape[3]!], 0, 1, 'float32', 5);
      return [tf.grad((t: Tensor) => tf.sum(tf.mul(roiAlign(t, boxes, bi, opts), w)))(f)];
    });
    expectSame(r);
  });

  it('multi-scale deformable attention (grid sampling, scatter gradients) equals the fixture; gradients equal wasm', async () => {
    const ref = torchRef('ms_deform_attn.safetensors');
    const shapes = Array.from(values(get(ref, 'value_spatial_shapes')));
    const levels: [number, number][] = [0, 1, 2].map((i) => [shapes[i * 2]!, shapes[i * 2 + 1]!]);
    await switchBackend('webgpu');
    const out = msDeformAttnCore(toTf(get(ref, 'value')), levels, toTf(get(ref, 'sampling_locations')), toTf(get(ref, 'attention_weights')));
    expect(maxAbsDiff(out.dataSync(), values(get(ref, 'output')))).toBeLessThan(1e-5);
    const r = await onBoth(() => {
      const probe = tf.randomNormal([1, 5, 32], 0, 1, 'float32', 9);
      const f = (v: Tensor, l: Tensor, a: Tensor) => tf.sum(tf.mul(msDeformAttnCore(v, levels, l, a), probe));
      return tf.grads(f)([toTf(get(ref, 'value')), toTf(get(ref, 'sampling_locations')), toTf(get(ref, 'attention_weights'))]);
    });
    expectSame(r, 1e-4, ['d value', 'd locations', 'd weights']);
  });

  it('attention with decomposed relative positions: output and gradients equal wasm', async () => {
    const r = await onBoth(() => {
      const [n, qh, qw, d] = [3, 4, 5, 8];
      const l = qh * qw;
      const qs = tf.randomNormal([n, l, d], 0, 0.5, 'float32', 1);
      const kT = tf.randomNormal([n, d, l], 0, 0.5, 'float32', 2);
      const v = tf.randomNormal([n, l, d], 0, 1, 'float32', 3);
      const relH = tf.randomNormal([n, qh, qw, qh], 0, 0.3, 'float32', 4);
      const relW = tf.randomNormal([n, qh, qw, qw], 0, 0.3, 'float32', 5);
      const probe = tf.randomNormal([n, l, d], 0, 1, 'float32', 6);
      const f = (a: Tensor, b: Tensor, c: Tensor, h: Tensor, w: Tensor) => tf.sum(tf.mul(attentionCore(a, b, c, { relH: h, relW: w }, { chunk: 2 }), probe));
      return [f(qs, kT, v, relH, relW), ...tf.grads(f)([qs, kT, v, relH, relW])];
    });
    expectSame(r, 1e-4, ['loss', 'dq', 'dkT', 'dv', 'drelH', 'drelW']);
  });

  it('the 6-D slice of the pyramid subsampling and its gradient (a rank-6 pad) equal wasm', async () => {
    const r = await onBoth(() => {
      const x = tf.randomNormal([1, 7, 9, 3], 0, 1, 'float32', 8);
      const w = tf.randomNormal([1, 4, 5, 3], 0, 1, 'float32', 9);
      return [subsample(x, 2), tf.grad((t: Tensor) => tf.sum(tf.mul(subsample(t, 2), w)))(x)];
    });
    expectSame(r, 1e-6);
  });

  it('AddN of more inputs than a shader can bind', async () => {
    await switchBackend('webgpu');
    const xs = Array.from({ length: 41 }, (_, i) => tf.fill([3, 2], i + 1));
    expect(Array.from(tf.addN(xs).dataSync())).toEqual(Array(6).fill((41 * 42) / 2));
  });

  it('is deterministic: scatter with duplicate indices, the gather gradient and a long-inner-dimension matmul repeat bit for bit', async () => {
    await switchBackend('webgpu');
    const idx = tf.tensor2d(Array.from({ length: 4000 }, (_, i) => (i * 7919) % 13), [4000, 1], 'int32');
    const upd = tf.randomNormal([4000, 16], 0, 1, 'float32', 1);
    const table = tf.randomNormal([13, 16], 0, 1, 'float32', 2);
    const a = tf.randomNormal([64, 4096], 0, 1, 'float32', 3);
    const b = tf.randomNormal([4096, 64], 0, 1, 'float32', 4);
    const run = () => [
      tf.scatterND(idx, upd, [13, 16]).dataSync(),
      tf.grad((t: Tensor) => tf.sum(tf.mul(tf.gather(t, idx.reshape([-1])), upd)))(table).dataSync(),
      tf.matMul(a, b).dataSync(),
    ];
    const first = run();
    for (let rep = 0; rep < 3; rep++) run().forEach((v, i) => expect(maxAbsDiff(v, first[i]!), `result ${i}, repeat ${rep}`).toBe(0));
    // And the sums are right.
    const ref = new Float32Array(13 * 16);
    const [iv, uv] = [idx.dataSync(), upd.dataSync()];
    for (let i = 0; i < 4000; i++) for (let c = 0; c < 16; c++) ref[iv[i]! * 16 + c]! += uv[i * 16 + c]!;
    expect(maxAbsDiff(first[0]!, ref)).toBeLessThan(1e-4);
  });

  it('reads large tensors synchronously (equal to the asynchronous read) and keeps its buffer pool bounded', async () => {
    await switchBackend('webgpu');
    const x = tf.randomUniform([3_000_000], 0, 1, 'float32', 1);
    const y = tf.mul(x, 2);
    const sync = y.dataSync();
    const async = await tf.mul(x, 2).data();
    expect(maxAbsDiff(sync, async)).toBe(0);
    // Many different sizes, each freed: the pool keeps at most what the peak of live bytes leaves room for.
    for (let i = 0; i < 60; i++) tf.tidy(() => void tf.add(tf.fill([20_000 + 997 * i], 1), 1).dataSync());
    const m = gpuMemory()!;
    expect(m.live + m.pooled).toBeLessThanOrEqual(Math.max(m.peakLive, m.live + 64 * 2 ** 20));
  });

  it('a tensor over the device\'s buffer limit fails before running, naming the kernel and the shape', async () => {
    await switchBackend('webgpu');
    const limit = webGpuBackend()!.device.limits.maxStorageBufferBindingSize;
    const n = Math.floor(limit / 4) + 1;
    expect(() => tf.fill([n], 1)).toThrow(new RegExp(`Fill.*output \\[${n}\\].*maxStorageBufferBindingSize`));
  });

  it('a command the GPU rejects makes every later kernel and read fail', async () => {
    await switchBackend('webgpu');
    const backend = webGpuBackend()!;
    const x = tf.ones([4]);
    const bad = {
      variableNames: ['x'],
      outputShape: [4],
      shaderKey: 'densekit_test_invalid',
      dispatchLayout: { x: [0] },
      dispatch: [1, 1, 1],
      workgroupSize: [4, 1, 1],
      getUserCode: () => 'fn main(index : i32) { this is not WGSL }',
    };
    expect(() => {
      backend.runWebGPUProgram(bad as never, [{ dataId: x.dataId, shape: x.shape, dtype: x.dtype }], 'float32');
      tf.sum(x).dataSync();
    }).toThrow(WebGpuFatalError);
    expect(() => tf.add(x, 1).dataSync()).toThrow(/GPU rejected a command/);
  });
});

describe.skipIf(!gpu.ok)('webgpu in a process of its own', () => {
  it('node exits by itself when the work is done', () => {
    const script = `
      const { switchBackend } = await import(${JSON.stringify(new URL('../../src/engine/backend.ts', import.meta.url).href)});
      const { tf } = await import(${JSON.stringify(new URL('../../src/engine/tf.ts', import.meta.url).href)});
      await switchBackend('webgpu');
      const y = tf.sum(tf.ones([1000]));
      console.log(y.dataSync()[0], (await y.data())[0]);`;
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('1000 1000');
    expect(Date.now() - t0).toBeLessThan(30_000);
  });
});
