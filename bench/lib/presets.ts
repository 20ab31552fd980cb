import { backboneSchema, type BackboneConfig } from '../../src/config/schema.js';

/** The backbone config of the reference COCO recipes (ViTDet-B / -L style) for a BEiT-3 size. */
export function backbonePreset(size: 'base' | 'large'): BackboneConfig {
  return backboneSchema.parse({ size, window_size: 14, use_rel_pos: true, drop_path_rate: 0 });
}
