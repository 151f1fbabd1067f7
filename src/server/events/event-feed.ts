/**
 * Events as they are committed, read from the store's outbox. A notification (from this or any
 * other server process on the database) says there is something new; a slow poll covers a
 * notification lost with a dropped listening connection.
 */
import type { EventRow, Store } from '../../store/index.js';

const POLL_MS = 1_000;
const BATCH = 1000;

export class EventFeed {
  private readonly subscribers = new Set<(e: EventRow) => void>();
  private last = 0;
  private reading: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private unlisten: (() => void) | null = null;

  constructor(
    private readonly store: Store,
    private readonly log: (msg: string) => void = () => {},
  ) {}

  async start(): Promise<void> {
    this.last = await this.store.events.lastId();
    // The payload is the newest event's id: with nobody to hand events to, that is all to know.
    this.unlisten = this.store.listen('events', (payload) => {
      if (this.subscribers.size > 0 || this.reading) void this.wake();
      else this.last = Math.max(this.last, Number(payload) || 0);
    });
    this.timer = setInterval(() => {
      if (this.subscribers.size > 0) void this.wake();
    }, POLL_MS);
    this.timer.unref();
  }

  stop(): void {
    this.unlisten?.();
    if (this.timer) clearInterval(this.timer);
  }

  /** Calls `fn` with every event committed from now on, in order; returns the unsubscribe. */
  subscribe(fn: (e: EventRow) => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  /** Reads what is new now; resolves once it has been handed to the subscribers. */
  wake(): Promise<void> {
    if (this.reading) {
      this.again = true;
      return this.reading;
    }
    this.reading = this.readNew()
      .catch((e: unknown) => this.log(`event feed: ${(e as Error).message}`))
      .finally(() => {
        this.reading = null;
        if (this.again) {
          this.again = false;
          void this.wake();
        }
      });
    return this.reading;
  }

  private async readNew(): Promise<void> {
    for (;;) {
      const batch = await this.store.events.after(this.last, null, BATCH);
      for (const e of batch) {
        this.last = e.id;
        for (const fn of this.subscribers) fn(e);
      }
      if (batch.length < BATCH) return;
    }
  }
}
