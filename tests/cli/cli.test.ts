import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';

describe('densekit CLI', () => {
  it('--help lists every command', () => {
    const r = runCli(['--help']);
    expect(r.status).toBe(0);
    for (const c of ['train', 'eval', 'predict', 'visualize', 'convert', 'config', 'data']) expect(r.stdout).toMatch(new RegExp(`\\n  ${c}\\b`));
  });

  it('--version prints the package version', () => {
    const r = runCli(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('config show prints the effective config with overrides', () => {
    const dir = mkdtempSync(join(tmpdir(), 'densekit-cli-'));
    writeFileSync(join(dir, 'a.yaml'), 'model:\n  roi_heads:\n    num_classes: 7\n');
    const r = runCli(['config', 'show', '--config', join(dir, 'a.yaml'), '--set', 'train.max_iter=42']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/num_classes: 7/);
    expect(r.stdout).toMatch(/max_iter: 42/);
  });

  it('a bad config gives one line naming file and key, exit 2, and writes nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'densekit-cli-'));
    writeFileSync(join(dir, 'bad.yaml'), 'model:\n  roi_heads:\n    num_clases: 7\n');
    const r = runCli(['config', 'show', '--config', join(dir, 'bad.yaml')], { cwd: dir });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/bad\.yaml: model\.roi_heads\.num_clases: unknown key/);
    expect(readdirSync(dir)).toEqual(['bad.yaml']);
  });
});
