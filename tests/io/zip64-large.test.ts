import { afterAll, describe, expect, it } from 'vitest';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ZipReader } from '../../src/io/zip.js';
import { readTorchStateDict, TorchCheckpoint } from '../../src/io/torch.js';
import { toNumeric } from '../../src/io/host-tensor.js';
import { fixture, maxAbsDiff } from '../helpers/fixtures.js';

/*
 * zip64 archives past 4 GiB without gigabytes of disk: members are written
 * at their far offsets into a sparse file, followed by a zip64 central
 * directory. The PyTorch fixture's own members are laid out this way to
 * check the .pth reader end to end.
 */

const PTH = fixture('torch-ref', 'beit3_tiny.pth');
const GiB = 2 ** 30;
const dir = mkdtempSync(join(tmpdir(), 'densekit-zip64-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Member {
  name: string;
  /** The member's bytes; or only its `size` (the file stays sparse there, reading as zeros). */
  data?: Uint8Array;
  size?: number;
  /** Where its local header starts (default: after the previous member). */
  at?: number;
}

const FFFF32 = 0xffffffff;

/** Write a stored-method zip64 archive to `path` with positioned writes; returns where each member's data starts. */
function writeZip64(path: string, members: Member[], patch?: (cd: Buffer, i: number, extraAt: number) => void): number[] {
  const fd = openSync(path, 'w');
  const starts: number[] = [];
  try {
    const centrals: Buffer[] = [];
    let pos = 0;
    members.forEach((m, i) => {
      const size = m.data?.byteLength ?? m.size ?? 0;
      const at = m.at ?? pos;
      const name = Buffer.from(m.name, 'utf8');
      const big = size > FFFF32;
      const lh = Buffer.alloc(30);
      lh.writeUInt32LE(0x04034b50, 0);
      lh.writeUInt32LE(big ? FFFF32 : size, 18);
      lh.writeUInt32LE(big ? FFFF32 : size, 22);
      lh.writeUInt16LE(name.length, 26);
      const lextra = Buffer.alloc(big ? 20 : 0);
      if (big) {
        lextra.writeUInt16LE(1, 0);
        lextra.writeUInt16LE(16, 2);
        lextra.writeBigUInt64LE(BigInt(size), 4);
        lextra.writeBigUInt64LE(BigInt(size), 12);
      }
      lh.writeUInt16LE(lextra.length, 28);
      const head = Buffer.concat([lh, name, lextra]);
      writeSync(fd, head, 0, head.length, at);
      const dataAt = at + head.length;
      starts.push(dataAt);
      if (m.data) writeSync(fd, m.data, 0, m.data.byteLength, dataAt);
      else ftruncateSync(fd, dataAt + size);
      pos = dataAt + size;
      // Central entry: the zip64 extra holds whichever of size, compressed size, offset overflow.
      const farOffset = at > FFFF32;
      const x: bigint[] = [];
      if (big) x.push(BigInt(size), BigInt(size));
      if (farOffset) x.push(BigInt(at));
      const extra = Buffer.alloc(x.length ? 4 + 8 * x.length : 0);
      if (x.length) {
        extra.writeUInt16LE(1, 0);
        extra.writeUInt16LE(8 * x.length, 2);
        x.forEach((v, k) => extra.writeBigUInt64LE(v, 4 + 8 * k));
      }
      const ch = Buffer.alloc(46);
      ch.writeUInt32LE(0x02014b50, 0);
      ch.writeUInt32LE(big ? FFFF32 : size, 20);
      ch.writeUInt32LE(big ? FFFF32 : size, 24);
      ch.writeUInt16LE(name.length, 28);
      ch.writeUInt16LE(extra.length, 30);
      ch.writeUInt32LE(farOffset ? FFFF32 : at, 42);
      const entry = Buffer.concat([ch, name, extra]);
      patch?.(entry, i, 46 + name.length);
      centrals.push(entry);
    });
    const cd = Buffer.concat(centrals);
    const cdAt = pos;
    const z64 = Buffer.alloc(56);
    z64.writeUInt32LE(0x06064b50, 0);
    z64.writeBigUInt64LE(44n, 4);
    z64.writeUInt16LE(45, 12);
    z64.writeUInt16LE(45, 14);
    z64.writeBigUInt64LE(BigInt(members.length), 24);
    z64.writeBigUInt64LE(BigInt(members.length), 32);
    z64.writeBigUInt64LE(BigInt(cd.length), 40);
    z64.writeBigUInt64LE(BigInt(cdAt), 48);
    const loc = Buffer.alloc(20);
    loc.writeUInt32LE(0x07064b50, 0);
    loc.writeBigUInt64LE(BigInt(cdAt + cd.length), 8);
    loc.writeUInt32LE(1, 16);
    const eocd = Buffer.alloc(22);
    eocd.writeUInt32LE(0x06054b50, 0);
    eocd.writeUInt16LE(0xffff, 8);
    eocd.writeUInt16LE(0xffff, 10);
    eocd.writeUInt32LE(FFFF32, 12);
    eocd.writeUInt32LE(FFFF32, 16);
    const tail = Buffer.concat([cd, z64, loc, eocd]);
    writeSync(fd, tail, 0, tail.length, cdAt);
  } finally {
    closeSync(fd);
  }
  return starts;
}

/** The fixture's members with every storage after the first few placed past `far`. */
function fixtureMembers(far: number): Member[] {
  const z = new ZipReader(PTH);
  try {
    const names = [...z.entries.keys()];
    return names.map((name, i) => ({ name, data: z.readEntry(name), at: i === 10 ? far : undefined }));
  } finally {
    z.close();
  }
}

describe('zip64 .pth past 4 GiB (sparse files)', () => {
  const far = 4.5 * GiB;
  const members = fixtureMembers(far);
  const big = join(dir, 'far.pth');
  writeZip64(big, members);
  const reference = readTorchStateDict(PTH);

  it('reads every tensor of a checkpoint whose storages lie past 4 GiB, identical to the original', () => {
    const back = readTorchStateDict(big);
    expect(new Set(back.keys())).toEqual(new Set(reference.keys()));
    for (const [name, t] of reference) {
      const b = back.get(name)!;
      expect(b.shape, name).toEqual(t.shape);
      expect(maxAbsDiff(toNumeric(b), toNumeric(t)), name).toBe(0);
    }
  });

  it('reads in bounded chunks and only the bytes of the tensors asked for', () => {
    const ck = new TorchCheckpoint(big, { chunkBytes: 1000 });
    try {
      const refs = ck.stateDictRefs();
      const afterPickle = ck.readStats.bytes;
      const [name, ref] = [...refs].find(([, r]) => r.shape.length === 2)!;
      const t = ck.readTensor(ref, name);
      const dataBytes = t.data.byteLength;
      // Its bytes plus the member's 30-byte local header (and name).
      expect(ck.readStats.bytes - afterPickle).toBeLessThan(dataBytes + 200);
      expect(ck.readStats.largestRead).toBeLessThanOrEqual(1000);
      expect(maxAbsDiff(toNumeric(t), toNumeric(reference.get(name)!))).toBe(0);
      const all = ck.readStateDict();
      for (const [k, v] of reference) expect(maxAbsDiff(toNumeric(all.get(k)!), toNumeric(v)), k).toBe(0);
      expect(ck.readStats.largestRead).toBeLessThanOrEqual(1000);
    } finally {
      ck.close();
    }
  });

  it('a member larger than 4 GiB: ranges read from anywhere in it, whole reads refused clearly', () => {
    const p = join(dir, 'huge-member.zip');
    const size = 4 * GiB + 4096;
    const starts = writeZip64(p, [
      { name: 'a/small', data: Buffer.from('hello') },
      { name: 'a/huge', size },
    ]);
    const fd = openSync(p, 'r+');
    writeSync(fd, Buffer.from('tail!'), 0, 5, starts[1]! + size - 5);
    closeSync(fd);
    const z = new ZipReader(p, { chunkBytes: 4096 });
    try {
      expect(z.entries.get('a/huge')!.size).toBe(size);
      expect(Buffer.from(z.readEntryRange('a/huge', size - 5, 5)).toString()).toBe('tail!');
      expect(new Uint8Array(z.readEntryRange('a/huge', 3 * GiB, 8))).toEqual(new Uint8Array(8));
      expect(z.readEntry('a/small').toString()).toBe('hello');
      expect(() => z.readEntry('a/huge')).toThrow(/huge-member\.zip: a\/huge: 4294971392 bytes at offset \d+ do not fit one buffer/);
      expect(() => z.readEntryRange('a/huge', size - 4, 5)).toThrow(/huge-member\.zip: range \[4294971388, 4294971393\) lies outside member a\/huge/);
    } finally {
      z.close();
    }
  });

  it('a zip64 offset past the end of the file is reported as truncated, naming the file', () => {
    const p = join(dir, 'bad-offset.pth');
    writeZip64(p, members, (entry, i, extraAt) => {
      if (i === 12) entry.writeBigUInt64LE(BigInt(64 * GiB), extraAt + 4);
    });
    expect(() => readTorchStateDict(p)).toThrow(/bad-offset\.pth: .*past the end of the file .*truncated/);
  });

  it('a zip64 value beyond 2^53 is refused as corrupt', () => {
    const p = join(dir, 'bad-u64.pth');
    writeZip64(p, members, (entry, i, extraAt) => {
      if (i === 12) entry.writeBigUInt64LE(1n << 60n, extraAt + 4);
    });
    expect(() => new TorchCheckpoint(p)).toThrow(/bad-u64\.pth: zip64 local header offset of .* is beyond any real file/);
  });

  it('a member whose data runs past the end of the file is truncated', () => {
    const p = join(dir, 'cut.zip');
    writeZip64(p, [{ name: 'a/x', data: Buffer.from('0123456789') }], (entry) => {
      entry.writeUInt32LE(1 << 30, 20);
      entry.writeUInt32LE(1 << 30, 24);
    });
    const z = new ZipReader(p);
    try {
      expect(() => z.readEntry('a/x')).toThrow(/cut\.zip: member a\/x \(1073741824 bytes at offset 33\) reaches past the end of the file .*truncated/);
    } finally {
      z.close();
    }
  });
});
