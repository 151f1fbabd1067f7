/**
 * A server that has just answered many long polls asks their agents to spread the reports that
 * follow (see core/report-spread.ts): the window is in the goal answer itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlipwayClient } from '../src/api/index.js';
import { startInProcessServer, type InProcessServer } from './helpers/in-process-server.js';

describe('the report window of goal answers', () => {
  let s: InProcessServer;
  beforeAll(async () => {
    // Ten reports a second: a burst of a few dozen answers is a crowd.
    s = await startInProcessServer({ reportsPerSecond: 10 });
  });
  afterAll(async () => {
    await s.stop();
  });

  it('is none while answers are few, and widens as they crowd', async () => {
    const join = new SlipwayClient({ server: s.url, token: s.joinToken });
    const { token } = await join.enroll({ name: 'spread-1', region: 'r1', labels: {} });
    const agent = new SlipwayClient({ server: s.url, token });
    const windows: number[] = [];
    for (let i = 0; i < 25; i++) windows.push((await agent.agentGoal(-1, 0)).reportWithinMs);
    expect(windows[0]).toBe(0);
    // 25 answers within a second or two: the last asks for a window of a second or more.
    expect(windows.at(-1)).toBeGreaterThanOrEqual(1_000);
    expect(windows.at(-1)).toBeLessThanOrEqual(2_500);
  });
});
