/**
 * Every request is authenticated, and thousands of agents call every few seconds: a token is
 * read from the database once, then served from the cache until it is revoked.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SlipwayClient } from '../src/api/index.js';
import { startInProcessServer, type InProcessServer } from './helpers/in-process-server.js';

describe('token lookups', () => {
  let s: InProcessServer;
  /** The server's clock, moved on by the test. */
  let now = Date.now();

  beforeAll(async () => {
    s = await startInProcessServer({ now: () => now });
  });
  afterAll(() => s.stop());

  it('reads an agent’s token once for 200 requests, a second apart, and again once revoked', async () => {
    const enrolled = await s.joiner.enroll({ name: 'busy', region: 'r1', labels: {} });
    const agent = new SlipwayClient({ server: s.url, token: enrolled.token });
    const lookups = vi.spyOn(s.store.tokens, 'find');
    try {
      for (let i = 0; i < 200; i++, now += 1_000) await agent.agentReport({ services: [] });
      expect(lookups).toHaveBeenCalledTimes(1);

      await s.admin.removeHost('busy');
      await expect(agent.agentReport({ services: [] })).rejects.toMatchObject({
        code: 'UNAUTHENTICATED',
      });
    } finally {
      lookups.mockRestore();
    }
  });
});
