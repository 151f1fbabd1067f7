/**
 * The simulated fleet, spread over a few threads of this process. One thread of 10,000 agents
 * took a whole core during a fan-out and set its pace (the server's own threads were idle half
 * the time); each thread has its own share of the agents, its connections and event loop.
 */
import type { Worker } from 'node:worker_threads';
import { tsWorker } from './ts-worker.js';

/** What one thread simulates. */
export interface SimThreadSpec {
  /** Its agents are `sim-<first>` … `sim-<first + count - 1>`. */
  first: number;
  count: number;
  regions: number;
  servers: string[];
  joinToken: string;
}

export type SimRequest =
  | { op: 'enroll'; concurrency: number }
  | { op: 'run' }
  | { op: 'unreported' }
  | { op: 'waiting'; service: string; version: number }
  | { op: 'arrivals'; service: string; version: number }
  | { op: 'counters' }
  | { op: 'stop' };

interface Counters {
  goalErrors: number;
  reportErrors: number;
  reports: number;
  commonest: [string, number][];
}

/** One thread's requests in flight, answered by id. */
class SimThread {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve(v: unknown): void; reject(e: Error): void }
  >();
  private failure: Error | null = null;

  constructor(private readonly worker: Worker) {
    worker.on('message', (m: { id: number; result?: unknown; error?: string }) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.error !== undefined) p?.reject(new Error(m.error));
      else p?.resolve(m.result);
    });
    const fail = (e: Error) => {
      this.failure ??= e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`a thread of simulated agents exited (${code})`)));
  }

  ask<T>(req: SimRequest): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, req });
    });
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

export class SimThreads {
  private constructor(private readonly threads: SimThread[]) {}

  /** `agents` agents over `threads` threads (fewer when there are fewer agents). */
  static start(
    agents: number,
    threads: number,
    fleet: Omit<SimThreadSpec, 'first' | 'count'>,
  ): SimThreads {
    const n = Math.max(1, Math.min(threads, agents));
    const module = new URL('./sim-thread.ts', import.meta.url);
    return new SimThreads(
      Array.from({ length: n }, (_, t) => {
        const first = Math.floor((agents * t) / n);
        const count = Math.floor((agents * (t + 1)) / n) - first;
        return new SimThread(tsWorker(module, { ...fleet, first, count }));
      }),
    );
  }

  private all<T>(req: SimRequest): Promise<T[]> {
    return Promise.all(this.threads.map((t) => t.ask<T>(req)));
  }

  /** Enrolls every agent, `concurrency` at a time over all threads; seconds it took. */
  async enroll(concurrency: number): Promise<number> {
    const start = performance.now();
    const each = Math.max(1, Math.ceil(concurrency / this.threads.length));
    await this.all({ op: 'enroll', concurrency: each });
    return (performance.now() - start) / 1000;
  }

  /** Starts every agent's long poll and reports. */
  async run(): Promise<void> {
    await this.all({ op: 'run' });
  }

  /** Agents that have not reported yet. */
  async unreported(): Promise<number> {
    return sum(await this.all<number>({ op: 'unreported' }));
  }

  /** Agents that have not seen a goal naming `service@version` yet. */
  async waiting(service: string, version: number): Promise<number> {
    return sum(await this.all<number>({ op: 'waiting', service, version }));
  }

  /** When each agent first saw it (ms since the epoch), or null. */
  async arrivals(service: string, version: number): Promise<(number | null)[]> {
    return (await this.all<(number | null)[]>({ op: 'arrivals', service, version })).flat();
  }

  async counters(): Promise<Counters> {
    const each = await this.all<Counters>({ op: 'counters' });
    const errors = new Map<string, number>();
    for (const c of each) for (const [m, n] of c.commonest) errors.set(m, (errors.get(m) ?? 0) + n);
    return {
      goalErrors: sum(each.map((c) => c.goalErrors)),
      reportErrors: sum(each.map((c) => c.reportErrors)),
      reports: sum(each.map((c) => c.reports)),
      commonest: [...errors].sort((a, b) => b[1] - a[1]).slice(0, 5),
    };
  }

  /** Stops every agent and ends the threads. */
  async stop(): Promise<void> {
    await this.all({ op: 'stop' }).catch(() => {});
    await Promise.all(this.threads.map((t) => t.terminate()));
  }
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
