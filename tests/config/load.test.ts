import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, resolveStage, dumpConfig, parseOverride } from '../../src/config/index.js';
import { mergeInto } from '../../src/config/merge.js';
import { resolveDataPaths } from '../../src/config/load.js';
import type { DetectorConfig } from '../../src/config/schema.js';

/** The model section as a detector config (these tests use detector keys). */
function det(m: { arch: string }): DetectorConfig {
  if (m.arch !== 'rcnn') throw new Error('not a detector');
  return m as DetectorConfig;
}

function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'densekit-cfg-'));
  for (const [name, text] of Object.entries(files)) {
    const p = join(dir, name);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, text);
  }
  return dir;
}

describe('config loading', () => {
  it('merges _base_ lists depth-first: maps merge, lists and scalars replace', () => {
    const dir = tree({
      '_base_/model.yaml': 'model:\n  rpn:\n    aspect_ratios: [0.5, 1]\n    nms_thresh: 0.6\n  roi_heads:\n    num_classes: 3\n',
      '_base_/sched.yaml': 'train:\n  max_iter: 10\n  schedule:\n    milestones: [5, 8]\n',
      'mid.yaml': '_base_: [_base_/model.yaml, _base_/sched.yaml]\nmodel:\n  rpn:\n    aspect_ratios: [2]\n',
      'top.yaml': '_base_: mid.yaml\ntrain:\n  schedule:\n    milestones: [7]\n',
    });
    const { config, files } = loadConfig(join(dir, 'top.yaml'));
    expect(det(config.model).rpn.aspect_ratios).toEqual([2]);
    expect(det(config.model).rpn.nms_thresh).toBe(0.6);
    expect(det(config.model).rpn.anchor_sizes).toEqual([32, 64, 128, 256, 512]);
    expect(det(config.model).roi_heads.num_classes).toBe(3);
    expect(config.train.max_iter).toBe(10);
    expect(config.train.schedule.milestones).toEqual([7]);
    expect(files.map((f) => f.slice(dir.length + 1))).toEqual(['top.yaml', 'mid.yaml', '_base_/model.yaml', '_base_/sched.yaml']);
  });

  it('applies --set overrides after merging, values parsed as YAML', () => {
    const dir = tree({ 'a.yaml': 'model:\n  roi_heads:\n    num_classes: 80\n' });
    const { config } = loadConfig(join(dir, 'a.yaml'), ['model.roi_heads.num_classes=365', 'train.schedule.milestones=[1, 2]', 'model.backbone.pretrained=null']);
    expect(det(config.model).roi_heads.num_classes).toBe(365);
    expect(config.train.schedule.milestones).toEqual([1, 2]);
    expect(config.model.backbone.pretrained).toBeNull();
    expect(() => parseOverride('novalue')).toThrow(/expected key\.path=value/);
  });

  it('names the file and key path of an unknown key, even inside a base', () => {
    const dir = tree({
      'base.yaml': 'model:\n  rpn:\n    nms_tresh: 0.5\n',
      'top.yaml': '_base_: base.yaml\ntrain:\n  max_iter: 3\n',
    });
    expect(() => loadConfig(join(dir, 'top.yaml'))).toThrow(new RegExp(`${dir}/base\\.yaml: model\\.rpn\\.nms_tresh: unknown key`));
  });

  it('names the file and key of a wrong type', () => {
    const dir = tree({ 'a.yaml': 'train:\n  max_iter: lots\n' });
    expect(() => loadConfig(join(dir, 'a.yaml'))).toThrow(/a\.yaml: train\.max_iter: .*expected number/);
    expect(() => loadConfig(join(dir, 'a.yaml'), ['train.max_iter=-1'])).toThrow(/^--set train\.max_iter=-1: train\.max_iter: /);
  });

  it('reports a missing _base_ file, bad YAML and cycles', () => {
    const dir = tree({
      'a.yaml': '_base_: nowhere.yaml\n',
      'bad.yaml': 'model: [1, 2\n',
      'c1.yaml': '_base_: c2.yaml\n',
      'c2.yaml': '_base_: c1.yaml\n',
    });
    expect(() => loadConfig(join(dir, 'a.yaml'))).toThrow(/a\.yaml: _base_: cannot read _base_ file .*nowhere\.yaml \(ENOENT\)/);
    expect(() => loadConfig(join(dir, 'bad.yaml'))).toThrow(/bad\.yaml: invalid YAML/);
    expect(() => loadConfig(join(dir, 'c1.yaml'))).toThrow(/_base_ cycle/);
    expect(() => loadConfig(join(dir, 'missing.yaml'))).toThrow(/missing\.yaml: cannot read \(ENOENT\)/);
  });

  it('resolves stages as full configs over the top level', () => {
    const dir = tree({
      'staged.yaml': [
        'model:\n  roi_heads:\n    num_classes: 365\n    mask_on: false',
        'train:\n  max_iter: 100',
        'stages:',
        '  - name: o365',
        '    train:\n      max_iter: 50',
        '  - name: coco',
        '    model:\n      roi_heads:\n        num_classes: 80\n        mask_on: true',
        '    train:\n      load_from: "stage:o365"',
      ].join('\n'),
    });
    const loaded = loadConfig(join(dir, 'staged.yaml'));
    const s1 = resolveStage(loaded, 'o365');
    expect(det(s1.model).roi_heads.num_classes).toBe(365);
    expect(s1.train.max_iter).toBe(50);
    const s2 = resolveStage(loaded, 'coco');
    expect(det(s2.model).roi_heads.num_classes).toBe(80);
    expect(det(s2.model).roi_heads.mask_on).toBe(true);
    expect(s2.train.max_iter).toBe(100);
    expect(s2.train.load_from).toBe('stage:o365');
    expect(() => resolveStage(loaded, 'lvis')).toThrow(/no stage named "lvis"/);
  });

  it('dumps the effective config as YAML that loads back to the same values', () => {
    const dir = tree({ 'a.yaml': 'model:\n  backbone:\n    size: large\n' });
    const { config } = loadConfig(join(dir, 'a.yaml'));
    const dumped = dumpConfig(config);
    writeFileSync(join(dir, 'b.yaml'), dumped);
    expect(loadConfig(join(dir, 'b.yaml')).config).toEqual(config);
  });

  it('_delete_ replaces a map instead of merging', () => {
    const merged = mergeInto({ a: { x: 1, y: 2 } }, { a: { _delete_: true, z: 3 } }, 'f', new Map());
    expect(merged).toEqual({ a: { z: 3 } });
  });

  it.each([
    ['model:\n  rpn:\n    anchor_sizes: [32, 64]\n', 'model.rpn.anchor_sizes', 'has 2 entries for 5 pyramid levels'],
    ['model:\n  rpn:\n    anchor_sizes: [[32, 40], 64, 128, 256, 512]\n', 'model.rpn.anchor_sizes', 'the same number of sizes'],
    ['model:\n  roi_heads:\n    cascade:\n      iou_thresholds: [0.5, 0.6]\n', 'model.roi_heads.cascade.box_reg_weights', 'has 3 entries for 2 stages'],
    ['input:\n  min_scale: 2.5\n', 'input.min_scale', 'must not exceed input.max_scale'],
    ['input:\n  train_size: 1024\n  square_pad: 512\n', 'input.square_pad', 'at least input.train_size'],
    ['data:\n  train:\n    format: ade20k\n    images: a\n    annotations: b\n', 'data.train.format', 'reads coco data, not ade20k'],
    ['model:\n  arch: mask2former\n  test:\n    crop_size: 512\n    stride: 600\n', 'model.test.stride', 'must not exceed model.test.crop_size'],
    ['model:\n  arch: mask2former\ninput:\n  train_size: 500\n  square_pad: 0\n', 'input.train_size', 'multiple of 32'],
  ])('refuses an inconsistent config with the file and key (%#)', (yaml, key, words) => {
    const dir = tree({ 'c.yaml': yaml });
    const file = join(dir, 'c.yaml');
    expect(() => loadConfig(file)).toThrow(`${file}: ${key}: `);
    expect(() => loadConfig(file)).toThrow(words);
  });

  it('checks the rules on each stage of a staged recipe too, naming the stage', () => {
    const dir = tree({ 'c.yaml': 'stages:\n  - name: a\n    input:\n      min_scale: 3\n' });
    const loaded = loadConfig(join(dir, 'c.yaml'));
    expect(() => resolveStage(loaded, 'a')).toThrow(`${join(dir, 'c.yaml')}: stages.a.input.min_scale: must not exceed`);
  });

  describe('an error a --set caused names the --set (key and value), not the YAML file', () => {
    const dir = tree({ 's.yaml': 'input:\n  min_scale: 0.5\nstages:\n  - name: a\n    input:\n      min_scale: 2\n  - name: b\n    train:\n      max_iter: 5\n' });
    const file = join(dir, 's.yaml');

    it('a stage value the YAML sets, broken by a --set of the key it is tied to', () => {
      const loaded = loadConfig(file, ['input.max_scale=1.5']);
      expect(() => resolveStage(loaded, 'a')).toThrow(/^--set input\.max_scale=1\.5: stages\.a\.input\.min_scale: must not exceed input\.max_scale \(1\.5\)$/);
      // The stage that does not set min_scale is fine with it.
      expect(resolveStage(loaded, 'b').input.max_scale).toBe(1.5);
      // Without the override the YAML is valid.
      expect(resolveStage(loadConfig(file), 'a').input.min_scale).toBe(2);
    });

    it('a --set of a whole map is blamed for the keys inside it that a file had set before', () => {
      expect(() => loadConfig(file, ['input={min_scale: 3}'])).toThrow(/^--set input=\{min_scale: 3\}: input\.min_scale: must not exceed/);
    });

    it('a cross-field rule in the top level too', () => {
      const top = tree({ 't.yaml': 'input:\n  train_size: 256\n  square_pad: 256\n' });
      expect(() => loadConfig(join(top, 't.yaml'), ['input.train_size=512'])).toThrow(/^--set input\.train_size=512: input\.square_pad: must be 0 or at least input\.train_size \(512\)$/);
    });

    it('a value the YAML alone breaks still names the YAML file', () => {
      const bad = tree({ 'b.yaml': 'input:\n  min_scale: 3\n' });
      expect(() => loadConfig(join(bad, 'b.yaml'), ['train.max_iter=5'])).toThrow(new RegExp(`^${join(bad, 'b.yaml')}: input\\.min_scale: must not exceed`));
    });
  });

  it('data paths: relative ones under data.root, against the working directory, not the config file', () => {
    const dir = tree({ 'sub/c.yaml': 'data:\n  root: datasets/coco\n  train:\n    images: train2017\n    annotations: /abs/ann.json\n' });
    const { config } = loadConfig(join(dir, 'sub/c.yaml'));
    expect(config.data.train!.images).toBe(join(process.cwd(), 'datasets/coco/train2017'));
    expect(config.data.train!.annotations).toBe('/abs/ann.json');
    expect(resolveDataPaths(config, '/work/elsewhere').data.train!.images).toBe(join(process.cwd(), 'datasets/coco/train2017'));
    const rel = resolveDataPaths({ data: { ...config.data, root: '', train: { ...config.data.train!, images: 'x' } } }, '/w');
    expect(rel.data.train!.images).toBe('/w/x');
  });
});

describe('--set keys', () => {
  it.each(['__proto__.polluted=1', 'model.__proto__.x=1', 'train.constructor.prototype.x=1'])('refuses object internals: %s', (spec) => {
    expect(() => parseOverride(spec)).toThrow(/is not a config key/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
