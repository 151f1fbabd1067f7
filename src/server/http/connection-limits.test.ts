import { describe, expect, it } from 'vitest';
import { routes } from '../../api/index.js';
import { DEFAULT_CONNECTION_LIMITS, fastifyTimeoutOptions } from './connection-limits.js';

describe('connection limits', () => {
  it('keep an idle long poll and an event stream between heartbeats open', () => {
    const longestPollMs = 60_000;
    expect(routes.agentGoal.query.safeParse({ waitMs: longestPollMs }).success).toBe(true);
    expect(routes.agentGoal.query.safeParse({ waitMs: longestPollMs + 1 }).success).toBe(false);
    // With room for a slow answer after the wait; event streams write a heartbeat every 15 s.
    expect(DEFAULT_CONNECTION_LIMITS.idleTimeoutMs).toBeGreaterThanOrEqual(longestPollMs + 30_000);
  });

  it('never ask Node for a headers timeout above the request timeout', () => {
    const o = fastifyTimeoutOptions({
      ...DEFAULT_CONNECTION_LIMITS,
      headersTimeoutMs: 5_000,
      requestTimeoutMs: 1_000,
    });
    expect(o.http.headersTimeout).toBe(1_000);
  });
});
