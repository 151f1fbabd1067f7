import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Enrollment } from './enrollment.js';
import { REPORT_RETRY, Reporter } from './reporter.js';

/** A reporter whose reports go to `agentReport`; its random picks are always half-way. */
function reporterOver(agentReport: () => Promise<unknown>): Reporter {
  const enrollment = { enrolled: true, client: { agentReport } } as unknown as Enrollment;
  return new Reporter({
    enrollment,
    services: () => [],
    traffic: () => ({ bytesReceived: {}, bytesServed: 0 }),
    peerUrl: () => null,
    relay: false,
    signal: new AbortController().signal,
    random: () => 0.5,
  });
}

describe('the reporter', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends a state the server did not take again after the wait, not with the next heartbeat', async () => {
    vi.useFakeTimers();
    let calls = 0;
    const reporter = reporterOver(() =>
      ++calls === 1 ? Promise.reject(new Error('down')) : Promise.resolve(),
    );
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

  it('reports after a goal at once, or within the window the server gave, state changes with it', async () => {
    vi.useFakeTimers();
    const sent: number[] = [];
    const reporter = reporterOver(() => {
      sent.push(Date.now());
      return Promise.resolve();
    });
    const start = Date.now();
    reporter.afterGoal(0);
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toEqual([start]);

    // A window of 2 s: the report goes at the moment picked in it (half-way), and a state
    // change meanwhile (a fetch starting) waits for it instead of going 100 ms later.
    sent.length = 0;
    reporter.afterGoal(2_000);
    await vi.advanceTimersByTimeAsync(50);
    reporter.changed('state');
    await vi.advanceTimersByTimeAsync(900);
    expect(sent).toEqual([]);
    await vi.advanceTimersByTimeAsync(100);
    expect(sent).toEqual([start + 1_000]);
    // After the moment, state changes go as before.
    reporter.changed('state');
    await vi.advanceTimersByTimeAsync(150);
    expect(sent).toHaveLength(2);
    reporter.stop();
  });
});
