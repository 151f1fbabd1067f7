/**
 * Logging a problem that a retry loop meets again and again once, not on every try: again only
 * when it changes, or after things worked in between. A loop refused by the server would
 * otherwise write the same line a few times a minute, forever.
 */

/** The last problem logged, so that the same one is not logged twice in a row. */
export class ProblemLog {
  private last: string | null = null;

  constructor(private readonly log: (msg: string) => void) {}

  /** A problem is logged now (true when this is the first time since it changed or recovered). */
  get failing(): boolean {
    return this.last !== null;
  }

  /**
   * Logs `message` unless the same problem (`key`, by default the message itself) was the last
   * one logged. Returns whether it logged.
   */
  problem(message: string, key: string = message): boolean {
    if (this.last === key) return false;
    this.last = key;
    this.log(message);
    return true;
  }

  /** Things work again: logs `message`, if a problem was logged, and forgets the problem. */
  recovered(message?: string): void {
    if (this.last !== null && message !== undefined) this.log(message);
    this.last = null;
  }
}
