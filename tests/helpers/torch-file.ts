import { writeFileSync } from 'node:fs';
import type { HostTensor } from '../../src/io/host-tensor.js';
import { makeZip } from './zip.js';

/**
 * Write a state dict as a PyTorch zip checkpoint (what `torch.save` makes
 * since 1.6): `archive/data.pkl`, a protocol-2 pickle of
 * `{"model": {name: tensor}}` whose tensors are `_rebuild_tensor_v2` calls
 * on storages `archive/data/<i>`, stored (not deflated). float32 only: what
 * tests of shapes and names need.
 */
export function writeTorchCheckpoint(path: string, state: Map<string, HostTensor>): void {
  const storages: Buffer[] = [];
  const p = new PickleWriter();
  p.op(0x80, 2); // PROTO 2
  p.op(0x7d); // EMPTY_DICT (the root)
  p.str('model');
  p.op(0x7d); // EMPTY_DICT (the state dict)
  p.op(0x28); // MARK
  for (const [name, t] of state) {
    if (t.dtype !== 'float32') throw new Error(`writeTorchCheckpoint: ${name} is ${t.dtype}; only float32 is written`);
    const key = String(storages.length);
    const data = t.data as Float32Array;
    storages.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    p.str(name);
    p.global('torch._utils', '_rebuild_tensor_v2');
    p.op(0x28); // MARK: the arguments
    p.op(0x28); // MARK: the storage's persistent id
    p.str('storage');
    p.global('torch', 'FloatStorage');
    p.str(key);
    p.str('cpu');
    p.int(data.length);
    p.op(0x74); // TUPLE
    p.op(0x51); // BINPERSID
    p.int(0); // storage offset
    p.tuple(t.shape);
    p.tuple(t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1)));
    p.op(0x89); // NEWFALSE: requires_grad
    p.global('collections', 'OrderedDict');
    p.op(0x29); // EMPTY_TUPLE
    p.op(0x52); // REDUCE: backward hooks
    p.op(0x74); // TUPLE
    p.op(0x52); // REDUCE: the tensor
  }
  p.op(0x75); // SETITEMS (into the state dict)
  p.op(0x73); // SETITEM (root["model"])
  p.op(0x2e); // STOP
  const members = [
    { name: 'archive/data.pkl', data: p.bytes() },
    { name: 'archive/byteorder', data: Buffer.from('little') },
    ...storages.map((data, i) => ({ name: `archive/data/${i}`, data })),
  ];
  writeFileSync(path, makeZip(members));
}

class PickleWriter {
  private readonly parts: Buffer[] = [];

  op(...bytes: number[]): void {
    this.parts.push(Buffer.from(bytes));
  }

  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    this.parts.push(Buffer.from([0x58]), len, b); // BINUNICODE
  }

  int(n: number): void {
    const b = Buffer.alloc(5);
    b[0] = 0x4a; // BININT
    b.writeInt32LE(n, 1);
    this.parts.push(b);
  }

  tuple(values: readonly number[]): void {
    this.op(0x28);
    for (const v of values) this.int(v);
    this.op(0x74);
  }

  global(module: string, name: string): void {
    this.parts.push(Buffer.from(`c${module}\n${name}\n`, 'latin1')); // GLOBAL
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}
