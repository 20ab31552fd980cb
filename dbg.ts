import { initBackend } from './src/engine/backend.js';
import { loadConfig } from './src/config/index.js';
import { GeneralizedRCNN } from './src/detection/rcnn.js';
import { loadCocoDataset } from './src/data/coco-dataset.js';
import { TrainLoader } from './src/data/loader.js';
import { toImageList } from './src/structures/image-list.js';
import { buildParamSpecs } from './src/train/param-groups.js';
import { AdamW } from './src/train/adamw.js';
import { lossAndGradients } from './src/train/step.js';
await initBackend();
const { config } = loadConfig('configs/demo/mask_rcnn_tiny_synth.yaml', ['data.train.images=/tmp/demo2/data/train', 'data.train.annotations=/tmp/demo2/data/annotations/instances_train.json', ...process.argv.slice(2)]);
const ds = loadCocoDataset(config.data.train!.annotations, config.data.train!.images, { filterEmpty: true });
const model = new GeneralizedRCNN(config.model, config.input, 0).train();
const specs = buildParamSpecs(model, config.train.optimizer);
const opt = new AdamW(specs, { betas: [0.9, 0.999], eps: 1e-8 });
const loader = new TrainLoader(ds, config.input, 4, 0);
const b = await loader.next();
const pad = { pixelMean: config.input.pixel_mean, pixelStd: config.input.pixel_std, squarePad: 128, sizeDivisibility: 32 };
const list = toImageList(b.images, pad);
for (let i = 0; i < 80; i++) {
  const r = lossAndGradients(() => model.losses(list, b.gt), specs);
  opt.apply(r.grads, Number(process.env.LR ?? 1e-3));
  for (const g of r.grads.values()) g.dispose();
  if (i % 10 === 9) console.log(i, Object.entries(r.losses).map(([k, v]) => `${k}=${v.toFixed(3)}`).join(' '));
}
