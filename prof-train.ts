import { tf } from './src/engine/tf.js';
import { initBackend } from './src/engine/backend.js';
import { loadConfig } from './src/config/index.js';
import { GeneralizedRCNN } from './src/detection/rcnn.js';
import { loadCocoDataset } from './src/data/coco-dataset.js';
import { TrainLoader } from './src/data/loader.js';
import { toImageList } from './src/structures/image-list.js';
import { buildParamSpecs } from './src/train/param-groups.js';
import { lossAndGradients } from './src/train/step.js';
await initBackend();
const { config } = loadConfig('configs/demo/mask_rcnn_tiny_synth.yaml', ['data.train.images=/tmp/demo1/data/train', 'data.train.annotations=/tmp/demo1/data/annotations/instances_train.json', ...process.argv.slice(2)]);
const ds = loadCocoDataset(config.data.train!.annotations, config.data.train!.images, { filterEmpty: true });
const model = new GeneralizedRCNN(config.model, config.input, 0).train();
const specs = buildParamSpecs(model, config.train.optimizer);
const loader = new TrainLoader(ds, config.input, Number(process.env.BS ?? 4), 0);
const pad = { pixelMean: config.input.pixel_mean, pixelStd: config.input.pixel_std, squarePad: 128, sizeDivisibility: 32 };
for (let i = 0; i < 3; i++) {
  const t0 = performance.now();
  const b = await loader.next();
  const t1 = performance.now();
  const list = toImageList(b.images, pad);
  if (i === 2) {
    const prof = await tf.profile(() => { const r = lossAndGradients(() => model.losses(list, b.gt), specs); for (const g of r.grads.values()) g.dispose(); });
    const by = new Map<string, [number, number]>();
    for (const k of prof.kernels) { const key = k.name === "BatchMatMul" || k.name === "Conv2D" ? `${k.name} ${JSON.stringify(k.inputShapes)}` : k.name; const e = by.get(key) ?? [0, 0]; e[0] += (k.kernelTimeMs as number) || 0; e[1]++; by.set(key, e); }
    console.log([...by].sort((a, b) => b[1][0] - a[1][0]).slice(0, 15).map(([k, [ms, n]]) => `${k} ${ms.toFixed(0)}ms x${n}`).join('\n'));
    console.log('total kernels', prof.kernels.length);
  }
  const t2 = performance.now();
  const r = lossAndGradients(() => model.losses(list, b.gt), specs);
  const t3 = performance.now();
  for (const g of r.grads.values()) g.dispose();
  console.log({ load: t1 - t0, step: t3 - t2, total: r.total });
}
