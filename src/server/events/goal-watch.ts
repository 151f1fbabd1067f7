/** Agents' long polls wait here for their host's goal to change, on any server process. */
import type { Store } from '../../store/index.js';
import { ALL_HOSTS } from '../app/unit-of-work.js';

export class GoalWatch {
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly unlisten: () => void;

  constructor(store: Store) {
    this.unlisten = store.listen('goals', (payload) => {
      if (payload === ALL_HOSTS) {
        for (const set of this.waiters.values()) for (const done of [...set]) done();
        return;
      }
      for (const id of payload.split(','))
        for (const done of [...(this.waiters.get(id) ?? [])]) done();
    });
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
}
