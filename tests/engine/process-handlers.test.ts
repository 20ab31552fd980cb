import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const BACKEND = pathToFileURL(new URL('../../src/engine/backend.ts', import.meta.url).pathname).href;

describe('process handlers', () => {
  it("an uncaught error in a script on the wasm backend prints Node's usual report, not the wasm module's source", () => {
    const script = join(mkdtempSync(join(tmpdir(), 'dk-uncaught-')), 'script.mts');
    writeFileSync(script, `import { switchBackend } from ${JSON.stringify(BACKEND)};\nawait switchBackend('wasm');\nsetTimeout(() => { throw new Error('boom from a script'); }, 10);\n`);
    const r = spawnSync(process.execPath, ['--conditions=source', '--import', TSX, script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('boom from a script');
    // The wasm module's own handler rethrew from its one-line minified source: ~39 KB of it above the error.
    expect(r.stderr.length).toBeLessThan(4000);
    expect(r.stderr).not.toContain('WasmBackendModule');
  });
});
