import { describe, expect, it } from 'vitest';
import { generateSigningKey, signTicket, verifyTicket } from '../../distribution/index.js';
import { TICKET_TTL_MS } from './peering.js';

describe('peer tickets', () => {
  it('of a removed host stop being accepted within two minutes of its last goal answer', () => {
    expect(TICKET_TTL_MS).toBeLessThanOrEqual(2 * 60_000);
    // Renewed with every goal answer, at least every 25 s: a few answers may go missing.
    expect(TICKET_TTL_MS).toBeGreaterThanOrEqual(4 * 25_000);
    const key = generateSigningKey();
    const issued = 1_000_000;
    // The last ticket the host got, just before it was removed.
    const ticket = signTicket(key.privatePem, {
      hostId: 'removed',
      region: 'r1',
      exp: issued + TICKET_TTL_MS,
    });
    expect(verifyTicket(key.publicPem, ticket, issued + TICKET_TTL_MS - 1).hostId).toBe('removed');
    // Also once the check was remembered: peers keep verified tickets to answer fast.
    expect(() => verifyTicket(key.publicPem, ticket, issued + TICKET_TTL_MS + 1)).toThrow(
      /expired/,
    );
  });
});
