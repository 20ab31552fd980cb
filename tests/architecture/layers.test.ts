import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The house's one rule: a file imports only from its own folder or from a
 * folder of a lower layer. Folders of one layer do not import each other
 * (detection and segmentation are independent models). `src/index.ts`
 * (the package's public surface) sits above everything.
 */
const LAYERS: string[][] = [
  ['util'],
  ['engine'],
  ['io'],
  ['config', 'structures'],
  ['backbone'],
  ['detection', 'segmentation'],
  ['data'],
  ['train'],
  ['tasks'],
  ['vis'],
  ['cli'],
];

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

function rankOf(folder: string): number {
  const r = LAYERS.findIndex((l) => l.includes(folder));
  return r;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Relative module specifiers of a file's static and dynamic imports and re-exports. */
export function importsOf(source: string): string[] {
  const out: string[] = [];
  const re = /(?:^|[^\w.])(?:import|export)\s[^'"]*?from\s*(['"])(\.{1,2}\/[^'"]+)\1|import\(\s*(['"])(\.{1,2}\/[^'"]+)\3\s*\)/gm;
  for (let m = re.exec(source); m; m = re.exec(source)) out.push((m[2] ?? m[4])!);
  return out;
}

/** Top folder under src/ of a path ('' for src/index.ts). */
function folderOf(file: string): string {
  const rel = relative(SRC, file).split(/[\\/]/);
  return rel.length > 1 ? rel[0]! : '';
}

interface Edge {
  from: string;
  to: string;
}

function edges(): Edge[] {
  return tsFiles(SRC).flatMap((f) =>
    importsOf(readFileSync(f, 'utf8')).map((spec) => ({ from: f, to: resolve(dirname(f), spec.replace(/\.js$/, '.ts')) })),
  );
}

describe('layering of src/', () => {
  it('finds the imports of a file (static, type-only, re-exports, dynamic)', () => {
    const src = "import { a } from './a.js';\nimport type { B } from '../b/c.js';\nexport { d } from './d.js';\nconst e = await import('../e.js');\nimport x from 'pkg';\n";
    expect(importsOf(src)).toEqual(['./a.js', '../b/c.js', './d.js', '../e.js']);
  });

  it('every folder of src/ has a layer', () => {
    const folders = readdirSync(SRC).filter((n) => statSync(join(SRC, n)).isDirectory());
    expect(folders.filter((f) => rankOf(f) < 0)).toEqual([]);
  });

  it('imports go only downward (or within a folder)', () => {
    const upward: string[] = [];
    for (const { from, to } of edges()) {
      const a = folderOf(from);
      const b = folderOf(to);
      if (a === '' || a === b) continue;
      if (b === '') {
        upward.push(`${relative(SRC, from)} -> src/index.ts`);
        continue;
      }
      if (rankOf(b) >= rankOf(a)) upward.push(`${relative(SRC, from)} -> ${relative(SRC, to)}`);
    }
    expect(upward).toEqual([]);
  });

  it('no file-level import cycle inside a folder', () => {
    const graph = new Map<string, string[]>();
    for (const { from, to } of edges()) graph.set(from, [...(graph.get(from) ?? []), to]);
    const state = new Map<string, 1 | 2>();
    const cycles: string[] = [];
    const visit = (n: string, path: string[]) => {
      if (state.get(n) === 2) return;
      if (state.get(n) === 1) {
        cycles.push([...path.slice(path.indexOf(n)), n].map((p) => relative(SRC, p)).join(' -> '));
        return;
      }
      state.set(n, 1);
      for (const m of graph.get(n) ?? []) visit(m, [...path, n]);
      state.set(n, 2);
    };
    for (const n of graph.keys()) visit(n, []);
    expect(cycles).toEqual([]);
  });
});
