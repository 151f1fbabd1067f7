/**
 * Staging (fetch, then materialize) and object collection must not overlap: a fetch counts an
 * object already on disk as held, and collection could delete it before materialize reads it.
 * Any number of stagings share the lock; collection takes it alone, and waiting collection
 * goes first so a busy host still gets collected.
 */
export class ObjectLock {
  private shared = 0;
  private exclusive: Promise<void> | null = null;
  private waiters: (() => void)[] = [];

  /** Runs a staging; many may run at once, none during a collection. */
  async withShared<T>(fn: () => Promise<T>): Promise<T> {
    while (this.exclusive) await this.exclusive;
    this.shared++;
    try {
      return await fn();
    } finally {
      this.shared--;
      if (this.shared === 0) for (const w of this.waiters.splice(0)) w();
    }
  }

  /** Runs a collection alone, after the stagings in progress have finished. */
  async withExclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.exclusive) await this.exclusive;
    let release!: () => void;
    this.exclusive = new Promise<void>((r) => (release = r));
    try {
      while (this.shared > 0) await new Promise<void>((r) => this.waiters.push(r));
      return await fn();
    } finally {
      this.exclusive = null;
      release();
    }
  }
}
