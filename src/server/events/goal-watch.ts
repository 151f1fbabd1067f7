/**
 * Agents' long polls wait here for their host's goal to change, on any server process. A goal
 * announcement first brings the hosts' new generations into the live host state (one read of
 * the hosts it names, or of all when it names all), then wakes exactly the long polls of the
 * hosts it names, or every one.
 */
import type { Store } from '../../store/index.js';
import { ALL_HOSTS } from '../app/unit-of-work.js';

export class GoalWatch {
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly unlisten: () => void;

  /** `reread` resolves once the hosts' rows, as committed before the call, can be read. */
  constructor(
    store: Store,
    private readonly reread: (hostIds: string[] | 'all') => Promise<void>,
    private readonly log: (msg: string) => void = () => {},
  ) {
    this.unlisten = store.listen('goals', (payload) => this.announced(payload));
  }

  /** Resolves when the host's goal changes, after `ms`, or on abort, whichever is first. */
  wait(hostId: string, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let set = this.waiters.get(hostId);
      if (!set) this.waiters.set(hostId, (set = new Set()));
      const waiting = set;
      const done = () => {
        clearTimeout(timer);
        waiting.delete(done);
        if (waiting.size === 0 && this.waiters.get(hostId) === waiting) this.waiters.delete(hostId);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      waiting.add(done);
      signal.addEventListener('abort', done);
    });
  }

  stop(): void {
    this.unlisten();
  }

  private announced(payload: string): void {
    const ids = payload === ALL_HOSTS ? 'all' : payload.split(',');
    const wake = () => {
      if (ids === 'all') {
        for (const set of this.waiters.values()) for (const done of [...set]) done();
        return;
      }
      for (const id of ids) for (const done of [...(this.waiters.get(id) ?? [])]) done();
    };
    // Woken either way: a failed read leaves the long poll to look for itself.
    this.reread(ids)
      .catch((e: unknown) => this.log(`reading new goals: ${(e as Error).message}`))
      .finally(wake);
  }
}
