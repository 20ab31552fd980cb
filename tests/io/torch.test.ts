import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTorchStateDict, TorchCheckpoint } from '../../src/io/torch.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { unpickle, PickleError } from '../../src/io/pickle.js';
import { toNumeric } from '../../src/io/host-tensor.js';
import { fixture, maxAbsDiff } from '../helpers/fixtures.js';
import { makeZip } from '../helpers/zip.js';

const PTH = fixture('torch-ref', 'beit3_tiny.pth');

function tmpFile(name: string, data: Uint8Array): string {
  const dir = mkdtempSync(join(tmpdir(), 'densekit-io-'));
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
}

describe('PyTorch .pth reader', () => {
  it('reads every tensor of the official-format checkpoint identical to the safetensors copy', () => {
    const fromPth = readTorchStateDict(PTH);
    const ref = readSafetensors(fixture('torch-ref', 'beit3_tiny_weights.safetensors')).tensors;
    expect(fromPth.size).toBeGreaterThan(50);
    for (const [name, t] of ref) {
      const p = fromPth.get(name);
      expect(p, name).toBeDefined();
      expect(p!.shape, name).toEqual(t.shape);
      expect(maxAbsDiff(toNumeric(p!), toNumeric(t)), name).toBe(0);
    }
    expect(new Set(fromPth.keys())).toEqual(new Set(ref.keys()));
  });

  it('finds the state dict under "model" as the official releases nest it', () => {
    const ckpt = new TorchCheckpoint(PTH);
    try {
      expect([...ckpt.stateDictRefs().keys()]).toContain('beit3.vision_embed.proj.weight');
    } finally {
      ckpt.close();
    }
  });

  it('rejects a pickle that names os.system, without running it', () => {
    // protocol 2: GLOBAL 'os system', a string argument, REDUCE, STOP
    const evil = Buffer.concat([
      Buffer.from([0x80, 0x02]),
      Buffer.from('cos\nsystem\n', 'latin1'),
      Buffer.from([0x58]),
      Buffer.from([11, 0, 0, 0]),
      Buffer.from('echo pwned!', 'latin1'),
      Buffer.from([0x85, 0x52, 0x2e]),
    ]);
    expect(() => unpickle(evil, { globals: {} })).toThrow(/refusing global os\.system/);
    const zip = makeZip([{ name: 'archive/data.pkl', data: evil }]);
    expect(() => new TorchCheckpoint(tmpFile('evil.pth', zip))).toThrow(/evil\.pth: refusing global os\.system/);
  });

  it('rejects builtins.eval and unknown opcodes', () => {
    const p = Buffer.concat([Buffer.from([0x80, 0x02]), Buffer.from('cbuiltins\neval\n', 'latin1'), Buffer.from([0x2e])]);
    expect(() => unpickle(p, { globals: {} })).toThrow(PickleError);
    // INST opcode 'i' is never needed by a state dict.
    expect(() => unpickle(Buffer.from([0x80, 0x02, 0x69]), { globals: {} })).toThrow(/refusing pickle opcode 0x69/);
  });

  it('gives a clear error for a truncated file', () => {
    const bytes = readFileSync(PTH);
    const cut = tmpFile('cut.pth', bytes.subarray(0, Math.floor(bytes.length / 2)));
    expect(() => readTorchStateDict(cut)).toThrow(/cut\.pth: .*(truncated|not a zip)/);
    const tiny = tmpFile('tiny.pth', bytes.subarray(0, 10));
    expect(() => readTorchStateDict(tiny)).toThrow(/tiny\.pth: .*truncated/);
  });

  it('refuses a zip member whose name contains ../', () => {
    const zip = makeZip([
      { name: 'archive/data.pkl', data: Buffer.from([0x80, 0x02, 0x7d, 0x2e]) },
      { name: 'archive/../../etc/passwd', data: Buffer.from('x') },
    ]);
    expect(() => new TorchCheckpoint(tmpFile('trav.pth', zip))).toThrow(/trav\.pth: zip member "archive\/\.\.\/\.\.\/etc\/passwd" has an unsafe path/);
  });

  it('reads deflated members and reports a dict without tensors', () => {
    const zip = makeZip([{ name: 'a/data.pkl', data: Buffer.from([0x80, 0x02, 0x7d, 0x2e]), deflate: true }]);
    const ck = new TorchCheckpoint(tmpFile('empty.pth', zip));
    expect(() => ck.stateDictRefs()).toThrow(/no tensors/);
    ck.close();
  });
});
