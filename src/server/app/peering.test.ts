import { describe, expect, it } from 'vitest';
import { generateSigningKey, signTicket, verifyTicket } from '../../distribution/index.js';
import { RecentTickets, TICKET_TTL_MS } from './recent-tickets.js';

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

describe('recent tickets', () => {
  it('are handed out again while young, and signed anew when old, for another region or after removal', () => {
    const tickets = new RecentTickets();
    let signed = 0;
    const sign = (exp: number) => `t${++signed}@${exp}`;
    const t0 = 1_000_000;
    const first = tickets.get('h1', 'r1', t0, 30_000, sign);
    expect(first).toBe(`t1@${t0 + TICKET_TTL_MS}`);
    expect(tickets.get('h1', 'r1', t0 + 30_000, 30_000, sign)).toBe(first);
    expect(tickets.get('h2', 'r1', t0, 30_000, sign)).toBe(`t2@${t0 + TICKET_TTL_MS}`);
    // Older than the reuse time: a new one, good for the whole lifetime again.
    expect(tickets.get('h1', 'r1', t0 + 30_001, 30_000, sign)).toBe(
      `t3@${t0 + 30_001 + TICKET_TTL_MS}`,
    );
    expect(tickets.get('h1', 'r2', t0 + 30_002, 30_000, sign)).toMatch(/^t4@/);
    tickets.forget('h1');
    expect(tickets.get('h1', 'r2', t0 + 30_003, 30_000, sign)).toMatch(/^t5@/);
    // A clock that went back does not hand out a ticket that lives longer than its lifetime.
    expect(tickets.get('h2', 'r1', t0 - 1, 30_000, sign)).toMatch(/^t6@/);
  });
});
