/**
 * Where onnxruntime's time goes: reads the profiles written by a run with
 * DENSEKIT_ORT_PROFILE=DIR (one JSON file per graph) and prints, per graph,
 * the time of its runs and its kernels summed by operator type.
 *   DENSEKIT_ORT_PROFILE=/tmp/prof npm run bench:detector -- --engines onnx --runs 1
 *   npm run bench:ort-profile -- /tmp/prof
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { printTable } from './lib/table.js';

interface ProfileEvent {
  cat: string;
  name: string;
  dur: number;
  args?: { op_name?: string };
}

const dir = process.argv[2];
if (!dir) {
  console.error('usage: npm run bench:ort-profile -- DIR');
  process.exit(2);
}
for (const f of readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
  const events = JSON.parse(readFileSync(join(dir, f), 'utf8')) as ProfileEvent[];
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').map((e) => e.dur / 1000);
  const byOp = new Map<string, { ms: number; calls: number }>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const op = e.args?.op_name ?? '?';
    const v = byOp.get(op) ?? { ms: 0, calls: 0 };
    v.ms += e.dur / 1000;
    v.calls++;
    byOp.set(op, v);
  }
  const total = [...byOp.values()].reduce((a, v) => a + v.ms, 0);
  const rows = [...byOp].sort((a, b) => b[1].ms - a[1].ms).slice(0, 12);
  printTable(
    `${f}: ${runs.length} runs, ${runs.map((r) => r.toFixed(0)).join(' / ')} ms; kernels ${total.toFixed(0)} ms in all`,
    ['operator', 'ms (all runs)', 'share', 'kernel calls'],
    rows.map(([op, v]) => [op, v.ms.toFixed(1), `${((100 * v.ms) / total).toFixed(1)}%`, v.calls]),
  );
}
