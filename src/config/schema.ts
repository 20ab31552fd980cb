import { z } from 'zod';

/**
 * The typed shape of every densekit config. Unknown keys are errors (a typo
 * must never be silently ignored); every field has the reference default so
 * that a config file only states what differs.
 */

const positive = z.number().positive();
const unit = z.number().min(0).max(1);

export const backboneSchema = z
  .object({
    /** Preset dimensions: tiny (tests), base 768/12/12, large 1024/24/16, giant 1408/40/16. */
    size: z.enum(['tiny', 'base', 'large', 'giant']).default('base'),
    embed_dim: z.number().int().positive().optional(),
    depth: z.number().int().positive().optional(),
    num_heads: z.number().int().positive().optional(),
    ffn_dim: z.number().int().positive().optional(),
    patch_size: z.number().int().positive().default(16),
    /** Image size the position table was trained at (its grid is this / patch). */
    pretrain_img_size: z.number().int().positive().default(224),
    /** Windowed attention size in tokens; 0 disables windows (plain BEiT-3). */
    window_size: z.number().int().min(0).default(14),
    /** Blocks with global attention; default from the size preset. */
    global_blocks: z.array(z.number().int().min(0)).optional(),
    use_rel_pos: z.boolean().default(true),
    drop_path_rate: unit.default(0.1),
    /** Apply BEiT-3's final encoder LayerNorm to the output map (ViTDet: no). */
    final_norm: z.boolean().default(false),
    layernorm_eps: positive.default(1e-5),
    /** A BEiT-3 .pth (official) or densekit .safetensors to initialise from. */
    pretrained: z.string().nullable().default(null),
    freeze_patch_embed: z.boolean().default(false),
    /**
     * Recompute each block in the backward pass instead of keeping its
     * intermediates (ViTDet's use_act_checkpoint): about a third more compute
     * per step, a fraction of the memory. Needed for base and larger at
     * 1024² on wasm, whose heap stops at 4 GB.
     */
    activation_checkpoint: z.boolean().default(false),
  })
  .strict();

export const pyramidSchema = z
  .object({
    out_channels: z.number().int().positive().default(256),
    scale_factors: z.array(positive).default([4, 2, 1, 0.5]),
    /** Add p6 by max-pool kernel 1 stride 2 on the coarsest level. */
    top_block: z.boolean().default(true),
    norm_eps: positive.default(1e-6),
  })
  .strict();

export const rpnSchema = z
  .object({
    /** One size per level, or several per level (every level the same count: the RPN head is shared). */
    anchor_sizes: z.array(z.union([positive, z.array(positive).min(1)])).default([32, 64, 128, 256, 512]),
    aspect_ratios: z.array(positive).default([0.5, 1, 2]),
    num_convs: z.number().int().min(1).default(2),
    iou_thresholds: z.tuple([unit, unit]).default([0.3, 0.7]),
    batch_size_per_image: z.number().int().positive().default(256),
    positive_fraction: unit.default(0.5),
    pre_nms_topk_train: z.number().int().positive().default(2000),
    pre_nms_topk_test: z.number().int().positive().default(1000),
    post_nms_topk_train: z.number().int().positive().default(1000),
    post_nms_topk_test: z.number().int().positive().default(1000),
    nms_thresh: unit.default(0.7),
    min_box_size: z.number().min(0).default(0),
    loss_weight: z.number().min(0).default(1),
    /**
     * Recompute the head per level in the backward pass: on a stride-4 map at
     * 1024² each of its activations (and, in tfjs, each of their gradients
     * until the backward pass ends) is 64 MB.
     */
    activation_checkpoint: z.boolean().default(false),
  })
  .strict();

export const cascadeSchema = z
  .object({
    iou_thresholds: z.array(unit).default([0.5, 0.6, 0.7]),
    box_reg_weights: z
      .array(z.tuple([positive, positive, positive, positive]))
      .default([
        [10, 10, 5, 5],
        [20, 20, 10, 10],
        [30, 30, 15, 15],
      ]),
  })
  .strict();

export const roiHeadsSchema = z
  .object({
    num_classes: z.number().int().positive().default(80),
    batch_size_per_image: z.number().int().positive().default(512),
    positive_fraction: unit.default(0.25),
    iou_threshold: unit.default(0.5),
    box_pooler_resolution: z.number().int().positive().default(7),
    mask_pooler_resolution: z.number().int().positive().default(14),
    pooler_sampling_ratio: z.number().int().min(0).default(0),
    conv_dim: z.number().int().positive().default(256),
    num_convs: z.number().int().min(0).default(4),
    fc_dim: z.number().int().positive().default(1024),
    box_reg_weights: z.tuple([positive, positive, positive, positive]).default([10, 10, 5, 5]),
    /** Cascade R-CNN stages; null for a plain (Mask) R-CNN box head. */
    cascade: cascadeSchema.nullable().default(null),
    mask_on: z.boolean().default(true),
    mask_num_convs: z.number().int().min(0).default(4),
    smooth_l1_beta: z.number().min(0).default(0),
    /**
     * Recompute each head conv in the backward pass instead of keeping its
     * intermediates: at 512 sampled ROIs the box and mask heads otherwise
     * hold gigabytes until the backward pass ends. A little more compute.
     */
    activation_checkpoint: z.boolean().default(false),
  })
  .strict();

export const nmsSchema = z
  .object({
    /** hard: classic NMS; linear / gaussian: Soft-NMS score decay. */
    method: z.enum(['hard', 'linear', 'gaussian']).default('hard'),
    iou_threshold: unit.default(0.5),
    sigma: positive.default(0.5),
    min_score: z.number().min(0).default(1e-3),
    /**
     * Soft-NMS reference: 'mmcv' (EVA, mmdet: decay when IoU >= threshold, every box checked
     * against min_score) or 'authors' (bharatsingh430/soft-nms: +1 box widths, decay when
     * IoU > threshold, only overlapping boxes rescored).
     */
    soft_variant: z.enum(['mmcv', 'authors']).default('mmcv'),
    /** Box width offset of the mmcv variant: 0 = x2-x1 (detectron2, mmcv default), 1 = x2-x1+1. */
    box_offset: z.union([z.literal(0), z.literal(1)]).default(0),
  })
  .strict();

export const testSchema = z
  .object({
    score_thresh: z.number().min(0).default(0.05),
    nms: nmsSchema.prefault({}),
    /** Keep at most this many detections per image; 0 keeps all (EVA's Soft-NMS path). */
    detections_per_image: z.number().int().min(0).default(100),
    mask_threshold: unit.default(0.5),
    /** Multiply scores by the mean mask probability above 0.5 (EVA's "maskness"). */
    maskness_rescore: z.boolean().default(false),
  })
  .strict();

export const detectorSchema = z
  .object({
    arch: z.literal('rcnn').default('rcnn'),
    backbone: backboneSchema.prefault({}),
    pyramid: pyramidSchema.prefault({}),
    rpn: rpnSchema.prefault({}),
    roi_heads: roiHeadsSchema.prefault({}),
    test: testSchema.prefault({}),
  })
  .strict();

export const adapterSchema = z
  .object({
    /** Channels of the spatial prior module's stem. */
    inplanes: z.number().int().positive().default(64),
    heads: z.number().int().positive().default(12),
    points: z.number().int().positive().default(4),
    deform_ratio: positive.default(1),
    cffn_ratio: positive.default(0.25),
    init_values: z.number().min(0).default(1e-6),
    /** Block ranges [first, last] of the interactions; default four equal spans of the depth. */
    interactions: z.array(z.tuple([z.number().int().min(0), z.number().int().min(0)])).optional(),
    add_vit_feature: z.boolean().default(true),
  })
  .strict();

export const mask2formerHeadSchema = z
  .object({
    num_classes: z.number().int().positive().default(150),
    hidden_dim: z.number().int().positive().default(256),
    mask_dim: z.number().int().positive().default(256),
    queries: z.number().int().positive().default(100),
    dec_layers: z.number().int().positive().default(9),
    heads: z.number().int().positive().default(8),
    dim_feedforward: z.number().int().positive().default(2048),
    enc_layers: z.number().int().min(0).default(6),
    enc_heads: z.number().int().positive().default(8),
    enc_points: z.number().int().positive().default(4),
    enc_feedforward: z.number().int().positive().default(1024),
    class_weight: z.number().min(0).default(2),
    mask_weight: z.number().min(0).default(5),
    dice_weight: z.number().min(0).default(5),
    no_object_weight: z.number().min(0).default(0.1),
    train_num_points: z.number().int().positive().default(12544),
    oversample_ratio: positive.default(3),
    importance_sample_ratio: unit.default(0.75),
  })
  .strict();

export const semanticTestSchema = z
  .object({
    /** whole: one pass over the (padded) image; slide: overlapping crops averaged. */
    mode: z.enum(['whole', 'slide']).default('whole'),
    crop_size: z.number().int().positive().default(512),
    stride: z.number().int().positive().default(341),
  })
  .strict();

export const mask2formerSchema = z
  .object({
    arch: z.literal('mask2former'),
    backbone: backboneSchema.prefault({ window_size: 0, use_rel_pos: false }),
    adapter: adapterSchema.prefault({}),
    head: mask2formerHeadSchema.prefault({}),
    test: semanticTestSchema.prefault({}),
  })
  .strict();

export const inputSchema = z
  .object({
    /** Square training size (LSJ target) and test longest side. */
    train_size: z.number().int().positive().default(1024),
    test_size: z.number().int().positive().default(1024),
    min_scale: positive.default(0.1),
    max_scale: positive.default(2.0),
    flip_prob: unit.default(0.5),
    pixel_mean: z.tuple([z.number(), z.number(), z.number()]).default([123.675, 116.28, 103.53]),
    pixel_std: z.tuple([positive, positive, positive]).default([58.395, 57.12, 57.375]),
    /** Pad batches to this square size (0: pad to the batch's max, divisible by size_divisibility). */
    square_pad: z.number().int().min(0).default(1024),
    size_divisibility: z.number().int().positive().default(32),
  })
  .strict();

export const datasetSchema = z
  .object({
    /** coco: COCO-format instances JSON; ade20k: images/ + annotations/ folders of label PNGs. */
    format: z.enum(['coco', 'ade20k']).default('coco'),
    /**
     * Folder of images. A relative path is taken under `data.root`, then
     * against the working directory the command runs in (as mmdetection's
     * and detectron2's dataset paths are); the loaded config holds it absolute.
     */
    images: z.string(),
    /** COCO-format annotation JSON, or (ade20k) the folder of annotation PNGs; relative as `images`. */
    annotations: z.string(),
    /** ade20k: raw 0 is "other" (ignored) and class k is stored as k+1. */
    reduce_zero_label: z.boolean().default(true),
    /** Drop images without (non-crowd) annotations in training, as detectron2. */
    filter_empty: z.boolean().default(true),
  })
  .strict();

export const dataSchema = z
  .object({
    /** Folder the splits' relative paths are under (mmdetection's data_root); relative to the working directory. */
    root: z.string().default(''),
    train: datasetSchema.nullable().default(null),
    val: datasetSchema.nullable().default(null),
    /** Images decoded ahead of the training step. */
    prefetch: z.number().int().min(0).default(4),
  })
  .strict();

export const optimizerSchema = z
  .object({
    lr: positive.default(1e-4),
    betas: z.tuple([unit, unit]).default([0.9, 0.999]),
    eps: positive.default(1e-8),
    weight_decay: z.number().min(0).default(0.1),
    /** Layer-wise lr decay over backbone blocks (1 disables). */
    layer_decay: z.number().positive().max(1).default(1),
    /** Name patterns (substring match) excluded from weight decay, besides 1-D tensors when `no_decay_1d`. */
    no_decay_keys: z.array(z.string()).default(['pos_embed', 'cls_token', 'rel_pos']),
    no_decay_1d: z.boolean().default(true),
  })
  .strict();

export const scheduleSchema = z
  .object({
    kind: z.enum(['step', 'cosine', 'poly', 'constant']).default('step'),
    milestones: z.array(z.number().int().positive()).default([]),
    gamma: positive.default(0.1),
    power: positive.default(1),
    min_lr_factor: z.number().min(0).default(0),
    warmup_iters: z.number().int().min(0).default(250),
    warmup_factor: z.number().min(0).max(1).default(0.001),
  })
  .strict();

export const trainSchema = z
  .object({
    max_iter: z.number().int().positive().default(1000),
    ims_per_batch: z.number().int().positive().default(2),
    /** Micro-batches accumulated per optimizer step (effective batch = ims_per_batch × this). */
    accumulate: z.number().int().positive().default(1),
    optimizer: optimizerSchema.prefault({}),
    schedule: scheduleSchema.prefault({}),
    clip_grad_norm: positive.nullable().default(null),
    checkpoint_period: z.number().int().positive().default(1000),
    eval_period: z.number().int().min(0).default(0),
    log_period: z.number().int().positive().default(20),
    seed: z.number().int().default(0),
    /** Weights to start from: a .safetensors/.pth path, or `stage:<name>` inside a staged recipe. */
    load_from: z.string().nullable().default(null),
  })
  .strict();

/** Model configs are told apart by `arch` ('rcnn' when absent). */
const modelSchema = z.preprocess(
  (v) => (typeof v === 'object' && v !== null && !('arch' in v) ? { ...v, arch: 'rcnn' } : v),
  z.discriminatedUnion('arch', [detectorSchema.extend({ arch: z.literal('rcnn') }), mask2formerSchema]),
);

const configBody = {
  model: modelSchema.prefault({}),
  input: inputSchema.prefault({}),
  data: dataSchema.prefault({}),
  train: trainSchema.prefault({}),
  output_dir: z.string().default('out/run'),
};

type ConfigBody = z.infer<z.ZodObject<typeof configBody>>;

/**
 * Rules that tie fields together, checked with the schema so that a broken
 * config is refused before anything runs, with the key that breaks it.
 */
export function configInvariants(c: ConfigBody, ctx: z.RefinementCtx): void {
  // `fields`: the other keys the rule ties this one to, so that an error a `--set` of one of them caused names that `--set`.
  const issue = (path: (string | number)[], message: string, fields: string[] = []) => ctx.addIssue({ code: 'custom', path, message, params: { fields } });
  const { input, model, data } = c;
  if (input.min_scale > input.max_scale) issue(['input', 'min_scale'], `must not exceed input.max_scale (${input.max_scale})`, ['input.max_scale']);
  const format = model.arch === 'mask2former' ? 'ade20k' : 'coco';
  for (const split of ['train', 'val'] as const) {
    const d = data[split];
    if (d && d.format !== format) issue(['data', split, 'format'], `a ${model.arch} model reads ${format} data, not ${d.format}`, ['model.arch', 'model']);
  }
  if (model.arch === 'rcnn') {
    const levels = model.pyramid.scale_factors.length + (model.pyramid.top_block ? 1 : 0);
    const sizes = model.rpn.anchor_sizes;
    if (sizes.length !== levels) {
      issue(
        ['model', 'rpn', 'anchor_sizes'],
        `has ${sizes.length} entries for ${levels} pyramid levels (${model.pyramid.scale_factors.length} scale factors${model.pyramid.top_block ? ' + p6' : ''})`,
        ['model.pyramid.scale_factors', 'model.pyramid.top_block'],
      );
    }
    const perLevel = new Set(sizes.map((s) => (Array.isArray(s) ? s.length : 1)));
    if (perLevel.size > 1) issue(['model', 'rpn', 'anchor_sizes'], 'must give every level the same number of sizes (the RPN head is shared)');
    const cascade = model.roi_heads.cascade;
    if (cascade && cascade.iou_thresholds.length !== cascade.box_reg_weights.length) {
      issue(['model', 'roi_heads', 'cascade', 'box_reg_weights'], `has ${cascade.box_reg_weights.length} entries for ${cascade.iou_thresholds.length} stages (cascade.iou_thresholds)`, ['model.roi_heads.cascade.iou_thresholds']);
    }
    if (input.square_pad > 0 && input.square_pad < input.train_size) issue(['input', 'square_pad'], `must be 0 or at least input.train_size (${input.train_size})`, ['input.train_size']);
  } else {
    if (model.test.stride > model.test.crop_size) issue(['model', 'test', 'stride'], `must not exceed model.test.crop_size (${model.test.crop_size}): windows would leave pixels uncovered`, ['model.test.crop_size']);
    if (input.train_size % 32 !== 0) issue(['input', 'train_size'], 'must be a multiple of 32 (the adapter pyramid)');
  }
}

export const stageSchema = z
  .object({ name: z.string().regex(/^[A-Za-z0-9_-]+$/), ...configBody })
  .strict()
  .superRefine(configInvariants);

export const configSchema = z
  .object({
    ...configBody,
    /** A staged recipe: each stage is a full config (the top level is its base). */
    stages: z.array(z.object({ name: z.string() }).passthrough()).default([]),
  })
  .strict()
  .superRefine(configInvariants);

export type BackboneConfig = z.infer<typeof backboneSchema>;
export type PyramidConfig = z.infer<typeof pyramidSchema>;
export type RpnConfig = z.infer<typeof rpnSchema>;
export type RoiHeadsConfig = z.infer<typeof roiHeadsSchema>;
export type CascadeConfig = z.infer<typeof cascadeSchema>;
export type NmsConfig = z.infer<typeof nmsSchema>;
export type TestConfig = z.infer<typeof testSchema>;
export type DetectorConfig = z.infer<typeof detectorSchema>;
export type AdapterConfig = z.infer<typeof adapterSchema>;
export type Mask2FormerHeadConfig = z.infer<typeof mask2formerHeadSchema>;
export type SemanticTestConfig = z.infer<typeof semanticTestSchema>;
export type Mask2FormerConfig = z.infer<typeof mask2formerSchema>;
export type InputConfig = z.infer<typeof inputSchema>;
export type ModelConfig = z.infer<typeof modelSchema>;
export type DatasetConfig = z.infer<typeof datasetSchema>;
export type DataConfig = z.infer<typeof dataSchema>;
export type OptimizerConfig = z.infer<typeof optimizerSchema>;
export type ScheduleConfig = z.infer<typeof scheduleSchema>;
export type TrainConfig = z.infer<typeof trainSchema>;
export type DensekitConfig = z.infer<typeof configSchema>;
export type StageConfig = z.infer<typeof stageSchema>;

/** A config of one training run (a stage's, or a config without stages). */
export type RunConfig = Omit<DensekitConfig, 'stages'>;

export type DetectorRunConfig = RunConfig & { model: DetectorConfig };
export type SegmenterRunConfig = RunConfig & { model: Mask2FormerConfig };

export function isDetectorConfig(c: RunConfig): c is DetectorRunConfig {
  return c.model.arch === 'rcnn';
}

export function isSegmenterConfig(c: RunConfig): c is SegmenterRunConfig {
  return c.model.arch === 'mask2former';
}
