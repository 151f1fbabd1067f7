/**
 * The one way tests wait for something: poll a condition until it holds or a deadline passes.
 * Deadlines are generous on purpose: a test must pass on a loaded 2-core machine, so a wait
 * says how long at most, never how long it should take.
 */

export interface UntilOptions {
  /** Give up after this long (default 30 s). */
  timeoutMs?: number;
  /** Time between tries (default 25 ms). */
  intervalMs?: number;
}

/**
 * Resolves with the first value of `probe` that is neither `undefined` nor `false`; a probe that
 * throws counts as not yet. Rejects after the deadline, naming `what` it waited for and the
 * probe's last error, if any.
 */
export async function until<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  opts: UntilOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const intervalMs = opts.intervalMs ?? 25;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
      lastError = undefined;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      const why = lastError === undefined ? '' : ` (last error: ${(lastError as Error).message})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
