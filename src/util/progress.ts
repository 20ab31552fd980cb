import cliProgress from 'cli-progress';

/** A progress reporter: a bar with ETA on a terminal, silent otherwise. */
export interface Progress {
  tick(n?: number, payload?: Record<string, string | number>): void;
  stop(): void;
}

export function progress(label: string, total: number, opts: { enabled?: boolean } = {}): Progress {
  const enabled = opts.enabled ?? (Boolean(process.stderr.isTTY) && !process.env.DENSEKIT_NO_PROGRESS);
  if (!enabled) return { tick() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {value}/{total} | {percentage}% | ETA {eta_formatted} {info}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { info: '' });
  return {
    tick(n = 1, payload) {
      bar.increment(n, payload ? { info: Object.entries(payload).map(([k, v]) => `${k} ${v}`).join(' ') } : undefined);
    },
    stop() {
      bar.stop();
    },
  };
}

/** A progress bar for work whose total the caller learns from the worker: started at the first update. */
export function progressOf(label: string, opts: { enabled?: boolean } = {}): { update(done: number, total: number): void; stop(): void } {
  let bar: Progress | undefined;
  let shown = 0;
  return {
    update(done, total) {
      bar ??= progress(label, total, opts);
      bar.tick(done - shown);
      shown = done;
    },
    stop() {
      bar?.stop();
    },
  };
}
