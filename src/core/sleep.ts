/** Waiting that an abort cuts short. */

/**
 * Resolves after `ms`, or at once when `signal` aborts (it never rejects). The abort listener is
 * removed when the time is up: loops that sleep on one long-lived signal would otherwise pile up
 * a listener per turn, and adding to that pile gets slower with every turn.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
