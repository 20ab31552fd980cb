import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { DensekitError } from '../util/errors.js';
import { runPaths } from './run-folder.js';

/**
 * A run folder has one owner at a time: the process that created its
 * `run.lock` (with O_EXCL, so exactly one of two racing processes does).
 * The lock names its owner (pid, host, start time) so that a refusal can
 * say who holds the folder, and so that a lock whose owner died without
 * releasing it (kill -9, power loss) can be recognised and taken over.
 * It is released on return, on error, on process.exit and on SIGINT /
 * SIGTERM.
 */
export interface RunLock {
  readonly dir: string;
  readonly path: string;
  release(): void;
}

/** What `run.lock` holds. */
export interface LockOwner {
  pid: number;
  host: string;
  /** ISO time the owner took the folder. */
  started: string;
}

/** Locks this process holds: lock path → what it wrote there, and the folder to remove if it created it and left it empty. */
const held = new Map<string, { owner: LockOwner; createdDir?: string }>();

/**
 * Take `dir` (created when missing) for this process. Refuses (a
 * DensekitError, exit 2) when a live process holds it; takes over, with a
 * note through `log`, a lock whose owner on this host is no longer running.
 */
export function acquireRunLock(dir: string, log: (line: string) => void): RunLock {
  const abs = resolve(dir);
  const createdDir = existsSync(abs) ? undefined : abs;
  if (!createdDir && !statSync(abs).isDirectory()) throw new DensekitError('is not a folder; a run writes its files into a folder', { file: abs });
  try {
    mkdirSync(abs, { recursive: true });
  } catch (err) {
    throw new DensekitError(`cannot create the run folder (${(err as NodeJS.ErrnoException).code})`, { file: abs });
  }
  const path = runPaths(abs).lock;
  if (held.has(path)) throw new DensekitError('this process is already training in this folder', { file: abs });
  const me: LockOwner = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
  // Signals are watched before the lock file exists: one that arrives while it is being written is then handled (after this returns) instead of killing the process with the lock left behind.
  watchExit();
  try {
    return takeLock(abs, path, me, createdDir, log);
  } finally {
    if (held.size === 0) unwatchExit();
  }
}

function takeLock(abs: string, path: string, me: LockOwner, createdDir: string | undefined, log: (line: string) => void): RunLock {
  // A few rounds: a stale lock removed here may be taken by a racing process first.
  for (let round = 0; round < 5; round++) {
    if (createLock(path, me)) {
      held.set(path, { owner: me, createdDir });
      return { dir: abs, path, release: () => releaseLock(path) };
    }
    const owner = readOwner(path);
    if (owner === null) continue; // released in between: try again
    if (owner === undefined) throw new DensekitError(`${path} is not a lock this program wrote; delete it if no training is using the folder`, { file: abs });
    if (!ownerGone(owner, path)) {
      // A live pid on this host is almost always the owner; one reused by an unrelated process after a crash is not, hence the way out.
      const remedy = owner.host === me.host ? `wait for it to finish or train into another folder (if pid ${owner.pid} is not that training, delete ${path})` : `if it is no longer running, delete ${path}`;
      throw new DensekitError(`in use by another training (pid ${owner.pid} on ${owner.host}, since ${owner.started}); ${remedy}`, { file: abs });
    }
    log(`${abs}: taking over ${path} from pid ${owner.pid} on ${owner.host} (since ${owner.started}), which is no longer running`);
    // Remove it only if it is still that owner's: a racing process may have taken it over already.
    if (sameOwner(readOwner(path), owner)) rmSync(path, { force: true });
  }
  throw new DensekitError('could not take the folder: its lock keeps changing hands', { file: abs });
}

/** Create the lock with O_EXCL; false when it exists. */
function createLock(path: string, me: LockOwner): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    throw new DensekitError(`cannot create the run folder's lock (${code})`, { file: path });
  }
  try {
    writeSync(fd, `${JSON.stringify(me)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * The lock's owner; null when there is no lock; undefined when the file is
 * not an owner record. The owner writes its record right after creating the
 * file, so an empty file is read again for a moment before it counts as
 * foreign.
 */
function readOwner(path: string): LockOwner | null | undefined {
  for (let attempt = 0; attempt < 20; attempt++) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    if (text !== '') return parseOwner(text);
    sleepMs(25);
  }
  return undefined;
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (Number.isInteger(o.pid) && typeof o.host === 'string' && typeof o.started === 'string') return o as LockOwner;
  } catch {
    // not JSON: foreign
  }
  return undefined;
}

function sameOwner(a: LockOwner | null | undefined, b: LockOwner): boolean {
  return !!a && a.pid === b.pid && a.host === b.host && a.started === b.started;
}

/**
 * Whether the owner is known to be gone: on this host, its pid is not
 * running — or is this very process, which does not hold the lock (a
 * restarted container runs as the same pid, often 1). An owner on another
 * host cannot be checked and is taken to be alive.
 */
function ownerGone(owner: LockOwner, path: string): boolean {
  if (owner.host !== hostname()) return false;
  if (owner.pid === process.pid) return !held.has(path);
  return !processAlive(owner.pid);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Remove the lock if it is still ours; remove the folder too if acquiring created it and nothing was written since. */
function releaseLock(path: string): void {
  const entry = held.get(path);
  if (!entry) return;
  held.delete(path);
  if (sameOwner(readOwnerOnce(path), entry.owner)) rmSync(path, { force: true });
  if (entry.createdDir && existsSync(entry.createdDir) && readdirSync(entry.createdDir).length === 0) rmdirSync(entry.createdDir);
  if (held.size === 0) unwatchExit();
}

function readOwnerOnce(path: string): LockOwner | undefined {
  try {
    return parseOwner(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

function releaseAll(): void {
  for (const path of [...held.keys()]) releaseLock(path);
}

/**
 * While a lock is held, SIGINT and SIGTERM release it and then end the
 * process as the signal would have (the handler steps aside and raises it
 * again); process.exit releases it too.
 */
function onSignal(signal: NodeJS.Signals): void {
  releaseAll();
  unwatchExit();
  process.kill(process.pid, signal);
}

let watching = false;

function watchExit(): void {
  if (watching) return;
  watching = true;
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', releaseAll);
}

function unwatchExit(): void {
  if (!watching) return;
  watching = false;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.off('exit', releaseAll);
}
