import { describe, expect, it } from 'vitest';
import { sleep } from './sleep.js';

/** How many abort listeners a signal holds (Node keeps the count on a symbol). */
function listenerCount(signal: AbortSignal): number {
  const key = Object.getOwnPropertySymbols(signal).find((s) => s.description === 'kEvents');
  const events = key
    ? (signal as unknown as Record<symbol, Map<string, { size: number }>>)[key]
    : undefined;
  return events?.get('abort')?.size ?? 0;
}

describe('sleep', () => {
  it('waits, and leaves no listener behind on the signal', async () => {
    const ac = new AbortController();
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) await sleep(1, ac.signal);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(19);
    expect(listenerCount(ac.signal)).toBe(0);
  });

  it('ends at once when the signal aborts', async () => {
    const ac = new AbortController();
    const t0 = performance.now();
    const p = sleep(10_000, ac.signal);
    ac.abort();
    await p;
    expect(performance.now() - t0).toBeLessThan(1_000);
    await sleep(10_000, ac.signal); // already aborted: no wait
    expect(performance.now() - t0).toBeLessThan(1_000);
  });
});
