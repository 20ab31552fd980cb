import { describe, expect, it } from 'vitest';
import { parseCount, parseCountOrZero, parseScore } from '../../src/cli/option-values.js';
import { runCli } from '../helpers/cli.js';

describe('option values', () => {
  it('are parsed with their type and range', () => {
    expect(parseCount('12')).toBe(12);
    for (const bad of ['0', '-3', '1.5', 'abc', '', '1e3']) expect(() => parseCount(bad), bad).toThrow('expected a positive integer');
    expect(parseCountOrZero('0')).toBe(0);
    expect(parseScore('0.25')).toBe(0.25);
    for (const bad of ['abc', '', '-0.1', '1.5', 'NaN', 'Infinity']) expect(() => parseScore(bad), bad).toThrow('expected a number between 0 and 1');
  });

  it('a bad value is a usage error naming the option, exit 2, before anything runs', () => {
    const r = runCli(['predict', '-c', 'nope.yaml', '-w', 'w', '-i', 'x', '-o', 'o.json', '--score-thr', 'abc']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/option '--score-thr <x>' argument 'abc' is invalid\. expected a number between 0 and 1/);
    const t = runCli(['eval', 'model', '-c', 'nope.yaml', '-w', 'w', '--threads', '0']);
    expect(t.status).toBe(2);
    expect(t.stderr).toMatch(/--threads <n>' argument '0' is invalid/);
    for (const [option, value, allowed] of [
      ['--engine', 'gpu', 'onnx, tfjs'],
      ['--device', 'tpu', 'cpu, webgpu, cuda'],
      ['--task', 'panoptic', 'detection, semantic'],
    ]) {
      const c = runCli(['predict', '-c', 'nope.yaml', '-w', 'w', '-i', 'x', '-o', 'o.json', option!, value!]);
      expect(c.status, option).toBe(2);
      expect(c.stderr, option).toContain(`argument '${value}' is invalid. Allowed choices are ${allowed}.`);
    }
    expect(runCli(['no-such-command']).status).toBe(2);
    expect(runCli(['--version']).status).toBe(0);
  });

  it('paths the options name must exist and be a file or a folder: exit 2 before the backend starts', () => {
    const cfg = 'configs/demo/mask_rcnn_tiny_synth.yaml';
    const seg = 'configs/demo/mask2former_adapter_tiny_synth.yaml';
    const cases: [string[], string][] = [
      [['predict', '-c', cfg, '-w', 'no/such/weights.safetensors', '-i', 'configs', '-o', 'o.json'], 'no/such/weights.safetensors: no such file (-w; ENOENT)'],
      [['predict', '-c', cfg, '-w', 'configs', '-i', 'configs', '-o', 'o.json'], 'configs: is a folder; -w takes a file'],
      [['predict', '-c', cfg, '-w', cfg, '-i', 'configs', '-o', 'o.json', '--gt', 'no/such/gt.json'], 'no/such/gt.json: no such file (--gt; ENOENT)'],
      [['predict', '-c', seg, '-w', cfg, '-i', 'configs', '-o', 'out', '--gt-dir', cfg], `${cfg}: is not a folder; --gt-dir takes a folder`],
    ];
    for (const [args, words] of cases) {
      const r = runCli(args);
      expect(r.status, words).toBe(2);
      expect(r.stderr, words).toBe(`densekit: error: ${words}\n`);
    }
  });
});
