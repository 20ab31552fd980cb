import { tf } from '../../engine/tf.js';
import type { Module } from '../../engine/module.js';
import { readSafetensors } from '../../io/safetensors.js';
import { readTorchStateDict } from '../../io/torch.js';
import { toTf, type HostTensor } from '../../io/host-tensor.js';
import { DensekitError } from '../../util/errors.js';
import { convertBeit3 } from './beit3-keys.js';

export interface PretrainedReport {
  /** Encoder parameters set from the checkpoint. */
  loaded: string[];
  /** Encoder parameters the checkpoint lacks (kept at their initialisation, e.g. ViTDet's rel-pos tables). */
  initialised: string[];
  /** Checkpoint tensors this encoder has no use for (e.g. the cls token in ViTDet mode). */
  unused: string[];
  /** Official keys dropped by the conversion (text experts, heads). */
  dropped: string[];
}

/**
 * Read BEiT-3 encoder weights from an official `.pth` (converted on the fly)
 * or from a densekit `.safetensors` (encoder names, as `densekit convert`
 * writes them).
 */
export function readBeit3Weights(path: string): { tensors: Map<string, HostTensor>; dropped: string[] } {
  if (path.endsWith('.safetensors')) {
    const f = readSafetensors(path);
    if ([...f.tensors.keys()].some((k) => k.startsWith('beit3.') || k.startsWith('encoder.layers.'))) {
      const c = convertBeit3(f.tensors, path);
      return { tensors: c.tensors, dropped: c.dropped };
    }
    return { tensors: f.tensors, dropped: [] };
  }
  const c = convertBeit3(readTorchStateDict(path), path);
  return { tensors: c.tensors, dropped: c.dropped };
}

/** The transformer blocks named in a set of encoder parameter names (`blocks.<i>.…`). */
function blockCount(names: Iterable<string>): number {
  const blocks = new Set<number>();
  for (const n of names) {
    const m = /^blocks\.(\d+)\./.exec(n);
    if (m) blocks.add(Number(m[1]));
  }
  return blocks.size;
}

/**
 * Copy encoder weights into `encoder` (a Beit3Encoder); shapes must match,
 * and the checkpoint must hold as many blocks as the model: a shallower one
 * would leave blocks at their random initialisation, a deeper one be cut.
 */
export function loadBeit3Weights(encoder: Module, tensors: Map<string, HostTensor>, source = 'checkpoint'): PretrainedReport {
  const own = encoder.stateDict();
  const ownBlocks = blockCount(own.keys());
  const fileBlocks = blockCount(tensors.keys());
  if (fileBlocks !== ownBlocks) {
    throw new DensekitError(`holds ${fileBlocks} transformer blocks, the model ${ownBlocks} (wrong model.backbone.size, or a partial checkpoint?)`, { file: source });
  }
  // Only ViTDet's relative-position tables are new; every other block parameter comes from the checkpoint.
  const missing = [...own.keys()].filter((n) => /^blocks\.\d+\./.test(n) && !/\.rel_pos_[hw]$/.test(n) && !tensors.has(n));
  if (missing.length > 0) {
    throw new DensekitError(`lacks ${missing[0]}${missing.length > 1 ? ` and ${missing.length - 1} more block parameters` : ''} (a partial checkpoint?)`, { file: source });
  }
  const report: PretrainedReport = { loaded: [], initialised: [], unused: [], dropped: [] };
  for (const [name, v] of own) {
    const t = tensors.get(name);
    if (!t) {
      report.initialised.push(name);
      continue;
    }
    if (t.shape.length !== v.shape.length || t.shape.some((d, i) => d !== v.shape[i])) {
      throw new DensekitError(`shape [${t.shape}] does not fit the model's [${v.shape}] (wrong size preset?)`, { file: source, key: name });
    }
    tf.tidy(() => v.assign(toTf(t, name)));
    report.loaded.push(name);
  }
  for (const name of tensors.keys()) if (!own.has(name)) report.unused.push(name);
  return report;
}

/** Initialise an encoder from a BEiT-3 checkpoint (`.pth` or `.safetensors`), reporting what was and was not used. */
export function initFromBeit3(encoder: Module, path: string): PretrainedReport {
  const { tensors, dropped } = readBeit3Weights(path);
  return { ...loadBeit3Weights(encoder, tensors, path), dropped };
}
