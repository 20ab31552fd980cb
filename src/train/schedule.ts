import type { ScheduleConfig } from '../config/schema.js';

/**
 * The lr multiplier at iteration `it` (0-based) of `maxIter`: linear warmup
 * from `warmup_factor` (detectron2's WarmupParamScheduler), then step decay
 * (×gamma at each milestone), cosine or poly decay to `min_lr_factor`, or constant.
 */
export function lrFactor(cfg: ScheduleConfig, it: number, maxIter: number): number {
  let f: number;
  switch (cfg.kind) {
    case 'step':
      f = cfg.gamma ** cfg.milestones.filter((m) => it >= m).length;
      break;
    case 'cosine':
      f = cfg.min_lr_factor + (1 - cfg.min_lr_factor) * 0.5 * (1 + Math.cos((Math.PI * it) / maxIter));
      break;
    case 'poly':
      f = cfg.min_lr_factor + (1 - cfg.min_lr_factor) * (1 - it / maxIter) ** cfg.power;
      break;
    case 'constant':
      f = 1;
      break;
  }
  if (it < cfg.warmup_iters) {
    const alpha = it / cfg.warmup_iters;
    f *= cfg.warmup_factor * (1 - alpha) + alpha;
  }
  return f;
}
