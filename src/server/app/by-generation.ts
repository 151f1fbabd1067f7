/**
 * Something of each host read from the store as of its goal generation, kept in memory: the
 * long polls of a fleet-wide change ask for many hosts in one turn, and one statement reads
 * them all (a thousand at a time). A host's value is read again once its generation moves past
 * the one it was read at.
 */

/** Hosts one statement reads. */
const READ_BATCH = 1_000;

interface Waiting<T> {
  generation: number;
  resolve: (value: T) => void;
  reject: (e: unknown) => void;
}

export class ByGeneration<T> {
  private readonly known = new Map<string, { generation: number; value: T }>();
  private waiting = new Map<string, Waiting<T>[]>();
  private scheduled = false;

  /** `read` returns the value of each host it was asked for (absent: `empty()`). */
  constructor(
    private readonly read: (hostIds: string[]) => Promise<Map<string, T>>,
    private readonly empty: () => T,
  ) {}

  /** The host's value as of `generation` or later. */
  of(hostId: string, generation: number): Promise<T> {
    const known = this.known.get(hostId);
    if (known && known.generation >= generation) return Promise.resolve(known.value);
    return new Promise((resolve, reject) => {
      const list = this.waiting.get(hostId) ?? [];
      list.push({ generation, resolve, reject });
      this.waiting.set(hostId, list);
      if (!this.scheduled) {
        this.scheduled = true;
        // Every long poll woken in this turn of the event loop asks before the read starts.
        setImmediate(() => void this.readWaiting());
      }
    });
  }

  /** A value read elsewhere with its generation (a goal announcement's read). */
  learn(hostId: string, generation: number, value: T): void {
    const known = this.known.get(hostId);
    if (!known || known.generation < generation) this.known.set(hostId, { generation, value });
  }

  forget(hostId: string): void {
    this.known.delete(hostId);
  }

  private async readWaiting(): Promise<void> {
    this.scheduled = false;
    const batch = this.waiting;
    this.waiting = new Map();
    const ids = [...batch.keys()];
    for (let i = 0; i < ids.length; i += READ_BATCH) {
      const part = ids.slice(i, i + READ_BATCH);
      try {
        const values = await this.read(part);
        for (const id of part) {
          const list = batch.get(id)!;
          const got = values.get(id) ?? this.empty();
          // Read after the generation the askers knew was committed: at least that new.
          const generation = Math.max(...list.map((w) => w.generation));
          const known = this.known.get(id);
          if (!known || known.generation <= generation)
            this.known.set(id, { generation, value: got });
          for (const w of list) w.resolve(got);
        }
      } catch (e) {
        for (const id of part) for (const w of batch.get(id)!) w.reject(e);
      }
    }
  }
}
