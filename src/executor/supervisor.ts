/**
 * Keeps one service process running: starts it in its own process group with its output
 * appended to log files (readable by this user only: a service may log secrets), restarts it
 * with exponential backoff (capped, with jitter) when it dies, and stops the whole group on
 * request. It can also take over a process an earlier supervisor started (`adopt`): one that is
 * not this process's child, so it watches it by polling its pid and start time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Backoff, type Random, type RunSpec } from '../core/index.js';
import { readOutputTail, type LogMark, type ProcessExit } from './output-tail.js';
import {
  isSameProcessAlive,
  readPidFile,
  stopGroup,
  writePidFile,
  type PidRecord,
} from './process-group.js';
import { argvOf } from './run-spec.js';

export type SupervisorEvent =
  | { type: 'started'; pid: number; adopted?: boolean }
  | {
      type: 'exited';
      pid: number;
      code: number | null;
      signal: string | null;
      restartInMs: number | null;
      /** The last lines this run wrote (see readOutputTail). */
      output: string[];
      unseen?: boolean;
    };

export interface SupervisorOptions {
  run: RunSpec;
  cwd: string;
  /** The complete environment of the child. */
  env: Record<string, string>;
  /** stdout.log and stderr.log are appended here. */
  logDir: string;
  /** Holds the child's pid (its process group id) and start time. */
  pidFile: string;
  /** What the pid file also records: what the process runs, for a later agent to check. */
  about?: PidRecord['about'];
  /**
   * Restarts wait `initialMs`, doubled after each crash in a row up to `maxMs` (less a random
   * share of up to half); a process that ran `resetAfterMs` starts the count over.
   */
  backoff?: { initialMs: number; maxMs: number; resetAfterMs: number };
  /** For the jitter of the restart waits (default Math.random). */
  random?: Random;
  onEvent?: (e: SupervisorEvent) => void;
}

/** Service log files: readable by the agent's user only. */
const LOG_FILE_MODE = 0o600;

/** How often an adopted process (not a child: no exit event) is checked for being alive. */
export const ADOPTED_POLL_MS = 100;

export class Supervisor {
  private child: ChildProcess | null = null;
  /** The process taken over from an earlier supervisor, while it runs. */
  private adopted: { rec: PidRecord; timer: NodeJS.Timeout | null } | null = null;
  private stopping = false;
  /** Left running (see `leave`): what becomes of the process is no longer told. */
  private left = false;
  private readonly restartWait: Backoff;
  private restartTimer: NodeJS.Timeout | null = null;
  private startedAt = 0;
  private exited: Promise<void> = Promise.resolve();
  private _restarts = 0;
  private readonly backoff: { initialMs: number; maxMs: number; resetAfterMs: number };
  private _firstExit: ProcessExit | null = null;
  private readonly exitListeners = new Set<(exit: ProcessExit) => void>();

  constructor(private readonly opts: SupervisorOptions) {
    this.backoff = opts.backoff ?? { initialMs: 200, maxMs: 10_000, resetAfterMs: 10_000 };
    const { initialMs, maxMs } = this.backoff;
    this.restartWait = new Backoff({ firstMs: initialMs, maxMs }, opts.random);
  }

  get running(): boolean {
    if (this.adopted) return true; // until the watch sees it gone
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }
  get pid(): number | undefined {
    return this.adopted?.rec.pid ?? this.child?.pid;
  }
  get restarts(): number {
    return this._restarts;
  }
  /** How it first ended since it was started (null: it never did). */
  get firstExit(): ProcessExit | null {
    return this._firstExit;
  }

  /** Calls `listener` at every exit from now on; returns what stops that. */
  onExit(listener: (exit: ProcessExit) => void): () => void {
    this.exitListeners.add(listener);
    return () => this.exitListeners.delete(listener);
  }

  start(): void {
    this.stopping = false;
    void this.spawnChild();
  }

  /**
   * Takes over `rec`, a process an earlier supervisor of the same service started and left
   * running (its agent died): nothing is started, the pid file is left as it is. It is watched
   * every ADOPTED_POLL_MS (pid and start time, as it is not a child), and once it is gone it is
   * restarted as if it had been started here. Output keeps going to the log files it was
   * started with.
   */
  adopt(rec: PidRecord): void {
    this.stopping = false;
    this.startedAt = Date.now();
    const adopted: { rec: PidRecord; timer: NodeJS.Timeout | null } = { rec, timer: null };
    this.adopted = adopted;
    let resolveExit!: () => void;
    this.exited = new Promise((r) => (resolveExit = r));
    const check = async () => {
      adopted.timer = null;
      if (await isSameProcessAlive(rec.pid, rec.startTime)) {
        if (this.adopted === adopted)
          adopted.timer = setTimeout(() => void check(), ADOPTED_POLL_MS);
        return;
      }
      if (this.adopted !== adopted) return;
      this.adopted = null;
      resolveExit();
      this.adoptedEnded(rec.pid);
    };
    this.opts.onEvent?.({ type: 'started', pid: rec.pid, adopted: true });
    void check();
  }

  /**
   * Stops supervising without stopping the process: no restart, no watch, no event from now on,
   * and the pid file stays, for a later supervisor to take the process over (`adopt`). This
   * process may exit meanwhile; the service's output goes to its log files, not through it.
   */
  leave(): void {
    this.stopping = true;
    this.left = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    if (this.adopted?.timer) clearTimeout(this.adopted.timer);
    this.adopted = null;
    this.child?.unref();
  }

  /** Stops restarting, then TERM (KILL after `graceMs`) the process group; resolves when it is gone. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const child = this.child;
    const adopted = this.adopted;
    if (adopted) {
      // Only while it is still the same process; the watch sees it gone and ends the wait below.
      if (await isSameProcessAlive(adopted.rec.pid, adopted.rec.startTime)) {
        await stopGroup(adopted.rec.pid, graceMs);
      }
    } else if (child?.pid !== undefined && this.running) await stopGroup(child.pid, graceMs);
    await this.exited;
    // Only its own: a release started beside this one (a published port's switch) wrote its own.
    const mine = adopted?.rec.pid ?? child?.pid;
    const rec = await readPidFile(this.opts.pidFile).catch(() => null);
    if (!rec || rec.pid === mine) await rm(this.opts.pidFile, { force: true });
  }

  private async spawnChild(): Promise<void> {
    const [cmd, ...args] = argvOf(this.opts.run);
    await mkdir(this.opts.logDir, { recursive: true });
    const out = await openLog(join(this.opts.logDir, 'stdout.log'));
    const err = await openLog(join(this.opts.logDir, 'stderr.log'));
    // Where this run's output starts: an exit reports only what this run wrote.
    const marks: LogMark[] = await Promise.all(
      [out, err].map(async (f, i) => ({
        path: join(this.opts.logDir, i === 0 ? 'stdout.log' : 'stderr.log'),
        offset: (await f.stat().catch(() => ({ size: 0 }))).size,
      })),
    );
    if (this.stopping) {
      await out.close();
      await err.close();
      return;
    }
    const child = spawn(cmd!, args, {
      cwd: this.opts.cwd,
      env: this.opts.env,
      detached: true,
      stdio: ['ignore', out.fd, err.fd],
    });
    this.child = child;
    this.startedAt = Date.now();
    let resolveExit!: () => void;
    this.exited = new Promise((r) => (resolveExit = r));
    const closeFds = () => void Promise.all([out.close(), err.close()]).catch(() => {});
    child.once('spawn', () => {
      closeFds();
      if (child.pid !== undefined) {
        void writePidFile(this.opts.pidFile, child.pid, this.opts.about).catch(() => {});
        this.opts.onEvent?.({ type: 'started', pid: child.pid });
      }
    });
    let ended = false;
    const onEnd = (code: number | null, signal: string | null) => {
      if (ended) return;
      ended = true;
      // The exit is told with the run's last output, read first; `stop` waits for both.
      void readOutputTail(marks)
        .catch(() => [])
        .then((output) => this.ended(child.pid ?? -1, { code, signal, output }))
        .finally(resolveExit);
    };
    child.once('error', (e) => {
      // Written before the exit is told, so that its output says why.
      void err
        .write(`slipway: cannot start ${cmd}: ${e.message}\n`)
        .catch(() => {})
        .finally(() => {
          closeFds();
          onEnd(null, null);
        });
    });
    child.once('exit', onEnd);
  }

  /** The adopted process is gone. Not a child: how it ended, and its output, are unknown here. */
  private adoptedEnded(pid: number): void {
    this.ended(pid, { code: null, signal: null, output: [], unseen: true });
  }

  /** A run ended: restarted after the backoff unless stopping, and told to every listener. */
  private ended(pid: number, exit: ProcessExit): void {
    if (this.left) return;
    const restartInMs = this.stopping ? null : this.nextDelay();
    if (restartInMs !== null) {
      this.restartTimer = setTimeout(() => {
        this._restarts++;
        void this.spawnChild();
      }, restartInMs);
    }
    this._firstExit ??= exit;
    this.opts.onEvent?.({ type: 'exited', pid, ...exit, restartInMs });
    for (const listener of [...this.exitListeners]) listener(exit);
  }

  private nextDelay(): number {
    if (Date.now() - this.startedAt >= this.backoff.resetAfterMs) this.restartWait.reset();
    return this.restartWait.next();
  }
}

/** Opens a log file to append to, mode 0600 (also when an earlier version made it wider). */
async function openLog(path: string): Promise<FileHandle> {
  const f = await open(path, 'a', LOG_FILE_MODE);
  try {
    await f.chmod(LOG_FILE_MODE);
  } catch (e) {
    await f.close();
    throw e;
  }
  return f;
}
