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

/** A duration for people: `45s`, `3m12s`, `1h48m`, `2d3h`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

/** One progress line: done of total, rate and ETA from the images done since `since`. */
export function progressLine(label: string, done: number, total: number, ranHere: number, elapsedS: number, resumed: number): string {
  const pct = total > 0 ? ((100 * done) / total).toFixed(1) : '100.0';
  const rate = elapsedS > 0 ? ranHere / elapsedS : 0;
  const eta = rate > 0 ? formatDuration((total - done) / rate) : '?';
  const rateText = rate >= 1 || rate === 0 ? `${rate.toFixed(2)} img/s` : `${(1 / rate).toFixed(2)} s/img`;
  return `${label}: ${done}/${total} images (${pct}%), ${rateText}, elapsed ${formatDuration(elapsedS)}, ETA ${done >= total ? '0s' : eta}${resumed > 0 ? `, ${resumed} resumed` : ''}`;
}

export interface ProgressOfOptions {
  /** Force the terminal bar on or off (default: on when stderr is a terminal and DENSEKIT_NO_PROGRESS is unset). */
  enabled?: boolean;
  /**
   * When stderr is not a terminal (a job's log): print a plain line every
   * this many images, and one at the end. 0 or unset: nothing.
   */
  every?: number;
  /** Where lines go (default stderr). */
  write?: (line: string) => void;
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

/**
 * Progress for work whose total the caller learns from the worker: a bar
 * (done of total, rate, ETA) on a terminal, started at the first update;
 * elsewhere, with `every`, a plain line every so many images. `start`
 * tells it how many were done before this process began (a resumed run),
 * so that the rate and ETA count only the images done here.
 */
export function progressOf(label: string, opts: ProgressOfOptions = {}): { start(done: number, total: number): void; update(done: number, total: number): void; stop(): void } {
  const quiet = Boolean(process.env.DENSEKIT_NO_PROGRESS);
  const tty = opts.enabled ?? (Boolean(process.stderr.isTTY) && !quiet);
  const every = !tty && !quiet && opts.every && opts.every > 0 ? opts.every : 0;
  const now = opts.now ?? (() => Date.now());
  const write = opts.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  let bar: cliProgress.SingleBar | undefined;
  let t0 = 0;
  let base: number | undefined;
  let last = { done: 0, total: 0 };
  let lastLine = -1;
  const begin = (done: number, total: number) => {
    if (base !== undefined) return;
    base = done;
    t0 = now();
    last = { done, total };
    if (tty) {
      bar = new cliProgress.SingleBar(
        { format: `${label} [{bar}] {value}/{total} | {percentage}% | {info}`, stream: process.stderr, hideCursor: true, clearOnComplete: false },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, done, { info: '' });
    }
  };
  const info = (done: number, total: number) => {
    const elapsed = (now() - t0) / 1000;
    const ran = done - base!;
    const rate = elapsed > 0 ? ran / elapsed : 0;
    return `${rate >= 1 || rate === 0 ? `${rate.toFixed(2)} img/s` : `${(1 / rate).toFixed(2)} s/img`} | ETA ${rate > 0 ? formatDuration((total - done) / rate) : '?'}`;
  };
  return {
    start: begin,
    update(done, total) {
      begin(base === undefined ? Math.max(0, done - 1) : base, total);
      last = { done, total };
      if (bar) bar.update(done, { info: info(done, total) });
      if (every) {
        const ran = done - base!;
        if (ran > 0 && ran % every === 0 && lastLine !== done) {
          lastLine = done;
          write(progressLine(label, done, total, ran, (now() - t0) / 1000, base!));
        }
      }
    },
    stop() {
      if (bar) bar.stop();
      if (every && base !== undefined && lastLine !== last.done) write(progressLine(label, last.done, last.total, last.done - base, (now() - t0) / 1000, base));
    },
  };
}
