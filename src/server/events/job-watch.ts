/**
 * Followers of a job's output wait here for its next lines or the end of a run, on any server
 * process: a host's report announces the job on `jobs` in its transaction. When announcements
 * may have been missed, every follower looks again.
 */
import type { Store } from '../../store/index.js';
import { Waiters } from './waiters.js';

export class JobWatch {
  private readonly waiters = new Waiters();
  private readonly unlisten: () => void;
  private readonly unwatchMissed: () => void;

  constructor(store: Store) {
    this.unlisten = store.listen('jobs', (jobId) => this.wake([jobId]));
    this.unwatchMissed = store.onMissed(() => this.wake('all'));
  }

  /** `changed` resolves when the job moves, after `ms`, or on `cancel()`. */
  wait(jobId: string, ms: number): { changed: Promise<void>; cancel: () => void } {
    return this.waiters.wait(jobId, ms);
  }

  stop(): void {
    this.unlisten();
    this.unwatchMissed();
  }

  private wake(ids: string[] | 'all'): void {
    for (const w of this.waiters.of(ids)) w();
  }
}
