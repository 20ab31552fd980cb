import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { switchBackend } from '../../src/engine/backend.js';
import { pairwiseDice, pairwiseSigmoidCe, sigmoidCeLoss, diceLoss, weightedCrossEntropy } from '../../src/segmentation/mask-losses.js';
import { linearSumAssignment } from '../../src/segmentation/hungarian.js';
import { toTf } from '../../src/io/host-tensor.js';
import { get, maxAbsDiff, torchRef, values } from '../helpers/fixtures.js';

beforeAll(async () => {
  await switchBackend('wasm');
});

describe('Mask2Former matcher costs and losses (all-pixel variant)', () => {
  const ref = torchRef('mask2former_losses.safetensors');
  const logits = toTf(get(ref, 'pred_logits')).reshape([10, 6]);
  const masks = toTf(get(ref, 'pred_masks')).reshape([10, 256]);
  const gtMasks = toTf(get(ref, 'gt_masks')).reshape([3, 256]);
  const gtLabels = Array.from(values(get(ref, 'gt_labels')));

  it('class, mask-BCE and dice costs, and the total with weights 2/5/5', () => {
    const prob = tf.softmax(logits);
    const costClass = tf.neg(tf.gather(prob, tf.tensor1d(gtLabels, 'int32'), 1));
    const costMask = pairwiseSigmoidCe(masks, gtMasks);
    const costDice = pairwiseDice(masks, gtMasks);
    expect(maxAbsDiff(costClass.dataSync(), values(get(ref, 'cost_class')))).toBeLessThan(1e-5);
    expect(maxAbsDiff(costMask.dataSync(), values(get(ref, 'cost_mask')))).toBeLessThan(1e-5);
    expect(maxAbsDiff(costDice.dataSync(), values(get(ref, 'cost_dice')))).toBeLessThan(1e-5);
    const total = tf.add(tf.add(tf.mul(costMask, 5), tf.mul(costClass, 2)), tf.mul(costDice, 5));
    expect(maxAbsDiff(total.dataSync(), values(get(ref, 'cost_total')))).toBeLessThan(1e-4);
    const m = linearSumAssignment(total.dataSync(), 10, 3);
    expect(m.rows).toEqual(Array.from(values(get(ref, 'matched_query_idx'))));
    expect(m.cols).toEqual(Array.from(values(get(ref, 'matched_gt_idx'))));
  });

  it('loss_ce (no-object weight 0.1), loss_mask and loss_dice', () => {
    const q = Array.from(values(get(ref, 'matched_query_idx')));
    const g = Array.from(values(get(ref, 'matched_gt_idx')));
    const target = new Int32Array(10).fill(5);
    q.forEach((qi, k) => (target[qi] = gtLabels[g[k]!]!));
    expect(Array.from(target)).toEqual(Array.from(values(get(ref, 'target_classes'))));
    expect(weightedCrossEntropy(logits, target, 0.1).dataSync()[0]).toBeCloseTo(values(get(ref, 'loss_ce'))[0]!, 5);
    const pm = tf.gather(masks, tf.tensor1d(q, 'int32'));
    const tm = tf.gather(gtMasks, tf.tensor1d(g, 'int32'));
    expect(sigmoidCeLoss(pm, tm, 3).dataSync()[0]).toBeCloseTo(values(get(ref, 'loss_mask'))[0]!, 5);
    expect(diceLoss(pm, tm, 3).dataSync()[0]).toBeCloseTo(values(get(ref, 'loss_dice'))[0]!, 5);
  });
});
