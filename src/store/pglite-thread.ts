/**
 * The embedded database from the main thread's side: PGlite runs in a worker thread
 * (`pglite-worker.ts`) and this thread only sends queries and receives rows, so it stays free to
 * answer requests however busy the database is.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { SlipwayError } from '../core/index.js';
import {
  EmbeddedDatabaseError,
  type Reply,
  type Request,
  type WorkerSettings,
} from './pglite-protocol.js';

/** How long closing may take (PGlite writes its data directory out) before the thread is ended. */
const CLOSE_TIMEOUT_MS = 30_000;

export interface QueryResult<R> {
  rows: R[];
  affectedRows: number | undefined;
}

/**
 * Starts the worker thread of the embedded database: compiled JavaScript beside this module
 * (`dist/`, how `slipway` runs), else the TypeScript source through tsx (tests, benchmarks).
 */
export function startPGliteWorker(dataDir: string | null): Worker {
  const workerData: WorkerSettings = { dataDir };
  const compiled = new URL('./pglite-worker.js', import.meta.url);
  if (existsSync(compiled)) return new Worker(compiled, { workerData });
  const source = new URL('./pglite-worker.ts', import.meta.url);
  let tsx: string;
  try {
    tsx = import.meta.resolve('tsx/esm/api');
  } catch {
    throw new Error(
      `cannot start the embedded database: ${fileURLToPath(compiled)} is missing. Run \`npm run build\` first.`,
    );
  }
  // An eval worker is a CommonJS script: no top-level await, but import() works.
  const boot = `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(source.href)}); });`;
  return new Worker(boot, { eval: true, workerData });
}

interface Pending {
  resolve(result: QueryResult<unknown>): void;
  reject(e: Error): void;
}

/** Requests to the embedded database on its thread; replies are matched to them by id. */
export class PGliteThread {
  /** Resolves once the database is open; rejects if it cannot be opened. */
  readonly waitReady: Promise<void>;
  private ready = false;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Map<string, Set<(payload: string) => void>>();
  /** Why requests are refused: set when the thread ended or closing began. */
  private refusal: Error | null = null;
  private closing: Promise<void> | null = null;
  private threadError: Error | null = null;
  private hasExited = false;
  private readonly exited: Promise<number>;
  private settleReady!: (e?: Error) => void;

  /**
   * `onStopped` is called, once, if the thread ends other than by `close()` after the database
   * opened (it crashed, or ran out of memory): every pending and later request has failed.
   */
  constructor(
    private readonly worker: Worker,
    private readonly where: string,
    private readonly onStopped: (e: Error) => void = () => {},
  ) {
    this.waitReady = new Promise<void>((resolve, reject) => {
      this.settleReady = (e) => (e ? reject(e) : resolve());
    });
    // Marked handled: a failed open is reported by waitReady to whoever awaits it.
    this.waitReady.catch(() => {});
    worker.on('message', (reply: Reply) => this.receive(reply));
    worker.on('error', (e) => (this.threadError ??= e));
    worker.once('exit', (code) => this.ended(code));
    this.exited = new Promise((resolve) => worker.once('exit', resolve));
    this.updateRef();
  }

  query<R>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
    return this.request((id) => ({ id, op: 'query', sql, params })) as Promise<QueryResult<R>>;
  }

  /** Calls `fn` with each payload NOTIFYed on `channel`; resolves once LISTEN has run. */
  async listen(channel: string, fn: (payload: string) => void): Promise<void> {
    const fns = this.listeners.get(channel);
    if (fns) {
      fns.add(fn);
      return;
    }
    this.listeners.set(channel, new Set([fn]));
    await this.request((id) => ({ id, op: 'listen', channel }));
  }

  /** Closes the database (its data directory left consistent) and ends the thread. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    if (this.refusal) return; // the thread already ended
    const closed = this.request((id) => ({ id, op: 'close' }));
    this.refusal = new SlipwayError('UNAVAILABLE', `the embedded database ${this.where} is closed`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), CLOSE_TIMEOUT_MS);
    });
    try {
      const outcome = await Promise.race([Promise.all([closed, this.exited]), timeout]);
      if (outcome === 'timeout') {
        throw new SlipwayError(
          'UNAVAILABLE',
          `the embedded database ${this.where} did not close within ${CLOSE_TIMEOUT_MS / 1000} s; its thread was ended`,
        );
      }
    } finally {
      clearTimeout(timer);
      if (!this.hasExited) await this.worker.terminate();
    }
  }

  private request(make: (id: number) => Request): Promise<QueryResult<unknown>> {
    if (this.refusal) return Promise.reject(this.refusal);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      try {
        this.worker.postMessage(make(id));
      } catch (e) {
        // E.g. a parameter structured clone cannot copy (a function, say).
        reject(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      this.pending.set(id, { resolve, reject });
      this.updateRef();
    });
  }

  private receive(reply: Reply): void {
    switch (reply.kind) {
      case 'ready':
        this.ready = true;
        this.settleReady();
        break;
      case 'failed':
        // The thread ends by itself: nothing to close.
        this.refusal = new SlipwayError(
          'UNAVAILABLE',
          `cannot open the embedded database ${this.where}: ${reply.error.message}`,
          {},
          { cause: new EmbeddedDatabaseError(reply.error) },
        );
        this.settleReady(this.refusal);
        break;
      case 'done':
        this.settle(reply.id, (p) => p.resolve(reply));
        break;
      case 'error':
        this.settle(reply.id, (p) => p.reject(new EmbeddedDatabaseError(reply.error)));
        break;
      case 'notification':
        for (const fn of this.listeners.get(reply.channel) ?? []) fn(reply.payload);
        break;
    }
    this.updateRef();
  }

  private settle(id: number, how: (p: Pending) => void): void {
    const p = this.pending.get(id);
    this.pending.delete(id);
    if (p) how(p);
  }

  private ended(code: number): void {
    this.hasExited = true;
    const stopped = !this.refusal;
    const why = this.threadError
      ? `its thread failed: ${this.threadError.message}`
      : `its thread exited with code ${code}`;
    const error = stopped
      ? new SlipwayError(
          'UNAVAILABLE',
          `the embedded database ${this.where} stopped: ${why}`,
          {},
          { cause: this.threadError },
        )
      : this.refusal!;
    this.refusal = error;
    if (!this.ready) this.settleReady(error);
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
    if (stopped && this.ready) this.onStopped(error);
  }

  /**
   * The thread keeps the process alive only while something waits for it, as an open socket
   * would: an idle store does not keep a finished process running.
   */
  private updateRef(): void {
    if (this.pending.size > 0 || !this.ready) this.worker.ref();
    else this.worker.unref();
  }
}
