import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeLabelPng, readLabelMap } from '../../src/io/image.js';

describe('label-map PNGs', () => {
  it('round-trip every uint8 value exactly as an 8-bit grayscale PNG', async () => {
    const w = 37;
    const h = 11;
    const data = new Uint8Array(w * h);
    for (let i = 0; i < data.length; i++) data[i] = (i * 97 + 13) % 256;
    const png = await encodeLabelPng(data, w, h);
    // IHDR colour type byte (offset 25): 0 = grayscale.
    expect(png[24]).toBe(8);
    expect(png[25]).toBe(0);
    const dir = mkdtempSync(join(tmpdir(), 'densekit-label-'));
    try {
      const file = join(dir, 'a.png');
      writeFileSync(file, png);
      const back = await readLabelMap(file);
      expect([back.width, back.height]).toEqual([w, h]);
      expect(Buffer.from(back.data).equals(Buffer.from(data))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
