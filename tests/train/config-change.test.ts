import { describe, expect, it } from 'vitest';
import { classifyChanges, describeChanges } from '../../src/train/config-change.js';
import { configSchema } from '../../src/config/schema.js';

const base = () => {
  const { stages: _s, ...run } = configSchema.parse({ data: { train: { images: '/d/train', annotations: '/d/train.json' } } });
  return run;
};

describe('what a resume may change', () => {
  it('names every changed leaf with its old and new value, and tells trajectory changes from the rest', () => {
    const a = base();
    const b = structuredClone(a);
    b.train.optimizer.lr = 2e-4;
    b.train.ims_per_batch = 4;
    b.input.pixel_mean = [1, 2, 3];
    b.data.train!.images = '/e/train';
    b.train.log_period = 5;
    b.train.checkpoint_period = 10;
    b.output_dir = 'elsewhere';
    b.data.val = { format: 'coco', images: '/d/val', annotations: '/d/val.json', reduce_zero_label: true, filter_empty: true };
    const { altering, neutral } = classifyChanges(a, b);
    expect(altering.map((c) => c.key).sort()).toEqual(['data.train.images', 'input.pixel_mean', 'train.ims_per_batch', 'train.optimizer.lr']);
    expect(neutral.map((c) => c.key).sort()).toEqual(['data.val', 'data.val.annotations', 'data.val.filter_empty', 'data.val.format', 'data.val.images', 'data.val.reduce_zero_label', 'output_dir', 'train.checkpoint_period', 'train.log_period']);
    expect(describeChanges(altering.filter((c) => c.key === 'input.pixel_mean'))).toBe('input.pixel_mean [123.675,116.28,103.53] → [1,2,3]');
    expect(describeChanges(neutral.filter((c) => c.key.startsWith('data.val.images')))).toBe('data.val.images (absent) → "/d/val"');
  });

  it('finds nothing in an unchanged config, and lists at most ten changes', () => {
    expect(classifyChanges(base(), base())).toEqual({ altering: [], neutral: [] });
    const many = Array.from({ length: 12 }, (_, i) => ({ key: `k${i}`, before: i, after: i + 1 }));
    expect(describeChanges(many)).toMatch(/^k0 0 → 1, .*k9 9 → 10, and 2 more$/);
  });
});
