/**
 * Agents' long polls wait here for their host's goal to change, on any server process. A goal
 * announcement first brings the hosts' new generations and goals into the live host state and
 * the goal book (one read of the hosts it names, or of all when it names all), then wakes
 * exactly the long polls of the hosts it names, or every one. When announcements may have been missed (the
 * database connection was lost), it acts as if every host's goal changed.
 */
import type { Store } from '../../store/index.js';
import { ALL_HOSTS } from '../app/unit-of-work.js';
import { Waiters } from './waiters.js';

export class GoalWatch {
  private readonly waiters = new Waiters();
  private readonly unlisten: () => void;
  private readonly unwatchMissed: () => void;

  /**
   * `readGoals` resolves once the hosts' goal generations (and goals), as committed before the
   * call, are what the live host state (and the goal book) answer.
   */
  constructor(
    store: Store,
    private readonly readGoals: (hostIds: string[] | 'all') => Promise<void>,
    private readonly log: (msg: string) => void = () => {},
  ) {
    this.unlisten = store.listen('goals', (payload) => this.announced(payload));
    this.unwatchMissed = store.onMissed(() => this.announced(ALL_HOSTS));
  }

  /** `changed` resolves when the host's goal changes, after `ms`, or on `cancel()`. */
  wait(hostId: string, ms: number): { changed: Promise<void>; cancel: () => void } {
    return this.waiters.wait(hostId, ms);
  }

  stop(): void {
    this.unlisten();
    this.unwatchMissed();
  }

  private announced(payload: string): void {
    const ids = payload === ALL_HOSTS ? 'all' : payload.split(',');
    // Woken either way: a failed read leaves the long poll to look for itself.
    this.readGoals(ids)
      .catch((e: unknown) => this.log(`reading new goals: ${(e as Error).message}`))
      .finally(() => wakeInSlices(this.waiters.of(ids)));
  }
}
/**
 * Long polls woken per turn of the event loop: each answers within the turn it was woken in
 * (its host's goal rows are read for all of them at once), and 10,000 answers in one turn kept
 * the server from answering anything else for a second.
 */
const WAKE_SLICE = 250;

function wakeInSlices(woken: (() => void)[], from = 0): void {
  const end = Math.min(woken.length, from + WAKE_SLICE);
  for (let i = from; i < end; i++) woken[i]!();
  if (end < woken.length) setImmediate(() => wakeInSlices(woken, end));
}
