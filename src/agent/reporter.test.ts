import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Enrollment } from './enrollment.js';
import { REPORT_RETRY, Reporter } from './reporter.js';

describe('the reporter', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends a state the server did not take again after the wait, not with the next heartbeat', async () => {
    vi.useFakeTimers();
    let calls = 0;
    const enrollment = {
      enrolled: true,
      client: {
        agentReport: () => (++calls === 1 ? Promise.reject(new Error('down')) : Promise.resolve()),
      },
    } as unknown as Enrollment;
    const reporter = new Reporter({
      enrollment,
      services: () => [],
      traffic: () => ({ bytesReceived: {}, bytesServed: 0 }),
      peerUrl: () => null,
      relay: false,
      signal: new AbortController().signal,
      random: () => 0.5,
    });
    reporter.start(60_000);
    reporter.changed('state');
    await vi.advanceTimersByTimeAsync(200);
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(REPORT_RETRY.maxMs);
    expect(calls).toBe(2);
    // Taken: nothing more until the heartbeat.
    await vi.advanceTimersByTimeAsync(30_000);
    expect(calls).toBe(2);
    reporter.stop();
  });
});
