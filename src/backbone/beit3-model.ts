import { Module } from '../engine/module.js';
import type { Rng } from '../engine/random.js';
import type { BackboneConfig } from '../config/schema.js';
import type { Beit3Encoder } from './beit3.js';
import type { PretrainedReport } from './convert/load-beit3.js';

/** A backbone built around a BEiT-3 encoder (`net`), naming its own lr-decay layers. */
export interface Beit3Backbone extends Module {
  readonly net: Beit3Encoder;
  /** lr-decay layer id of a parameter name relative to the backbone. */
  layerId(name: string): number;
}

/**
 * What every model on a BEiT-3 backbone shares with the training loop:
 * layer ids for layer-wise lr decay (backbone blocks by depth, everything
 * outside the backbone last), the states of its random generators (for
 * exact resume), and which parameters stay frozen.
 */
export abstract class Beit3Model extends Module {
  abstract readonly backbone: Beit3Backbone;
  abstract readonly cfg: { backbone: BackboneConfig };
  /** Drives the model's own sampling (proposals, points); checkpointed with the encoder's drop-path generator. */
  abstract readonly samplingRng: Rng;
  abstract readonly pretrained?: PretrainedReport;

  get depth(): number {
    return this.backbone.net.opts.depth;
  }

  layerId(name: string): number {
    return name.startsWith('backbone.') ? this.backbone.layerId(name.slice('backbone.'.length)) : this.depth + 1;
  }

  /** States of every random generator the model draws from. */
  rngStates(): number[][] {
    return [this.samplingRng.getState(), this.backbone.net.rng.getState()];
  }

  setRngStates(states: number[][]): void {
    this.samplingRng.setState(states[0]!);
    this.backbone.net.rng.setState(states[1]!);
  }

  /** Parameters the optimizer leaves alone: the patch embedding when `backbone.freeze_patch_embed`. */
  isFrozen(name: string): boolean {
    return this.cfg.backbone.freeze_patch_embed && name.startsWith('backbone.net.patch_embed.');
  }
}
