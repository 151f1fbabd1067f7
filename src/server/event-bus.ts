/** In-process notifications: new events, goal changes and reports wake the waiters. */
import { EventEmitter } from 'node:events';
import type { EventRow } from '../store/index.js';

export class EventBus {
  private readonly emitter = new EventEmitter();

  constructor() {
    // Every SSE client and every long-polling agent listens: no meaningful limit.
    this.emitter.setMaxListeners(0);
  }

  publish(events: EventRow[]): void {
    for (const e of events) this.emitter.emit('event', e);
  }
  onEvent(fn: (e: EventRow) => void): () => void {
    this.emitter.on('event', fn);
    return () => this.emitter.off('event', fn);
  }

  goalChanged(hostIds: string[]): void {
    for (const id of hostIds) this.emitter.emit(`goal:${id}`);
  }
  /** Resolves when the host's goal changes or after `ms`, whichever is first. */
  waitForGoal(hostId: string, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.emitter.off(`goal:${hostId}`, done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.emitter.once(`goal:${hostId}`, done);
      signal.addEventListener('abort', done);
    });
  }

  reported(hostId: string): void {
    this.emitter.emit('report', hostId);
  }
  onReport(fn: (hostId: string) => void): () => void {
    this.emitter.on('report', fn);
    return () => this.emitter.off('report', fn);
  }
}
