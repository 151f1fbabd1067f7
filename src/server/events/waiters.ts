/**
 * Callers waiting, by key (a host, a job), for something about that key to change: woken by key,
 * all at once, after their own timeout, or cancelled.
 */
export class Waiters {
  private readonly waiters = new Map<string, Set<() => void>>();

  /**
   * `changed` resolves when `key` is woken, after `ms`, or on `cancel()`, whichever is first. No
   * AbortSignal: at 10,000 answers at once, aborting one per answer (each building its
   * DOMException) took a third of the server's time.
   */
  wait(key: string, ms: number): { changed: Promise<void>; cancel: () => void } {
    let set = this.waiters.get(key);
    if (!set) this.waiters.set(key, (set = new Set()));
    const waiting = set;
    let resolve!: () => void;
    const changed = new Promise<void>((r) => (resolve = r));
    const done = () => {
      clearTimeout(timer);
      if (!waiting.delete(done)) return;
      if (waiting.size === 0 && this.waiters.get(key) === waiting) this.waiters.delete(key);
      resolve();
    };
    const timer = setTimeout(done, ms);
    waiting.add(done);
    return { changed, cancel: done };
  }

  /** The wake-ups of those waiting on these keys (on every key: `all`), to call. */
  of(keys: readonly string[] | 'all'): (() => void)[] {
    const woken: (() => void)[] = [];
    if (keys === 'all') for (const set of this.waiters.values()) woken.push(...set);
    else for (const k of keys) woken.push(...(this.waiters.get(k) ?? []));
    return woken;
  }
}
