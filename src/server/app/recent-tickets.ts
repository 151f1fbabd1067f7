/** Peer tickets: how long one is good, and the ones signed lately, handed out again while young. */

/**
 * How long a ticket is good. Peers check tickets without asking the control plane, so this is
 * how long a removed host can still take chunks from its region. Agents renew theirs with every
 * goal answer, at least every 25 s (the long poll's longest wait), so a
 * ticket outlives a few missed answers.
 */
export const TICKET_TTL_MS = 2 * 60_000;

/** Tickets signed lately, by host: one is handed out again while young enough. */
export class RecentTickets {
  private readonly byHost = new Map<string, { region: string; exp: number; ticket: string }>();

  /** The host's recent ticket for `region`, or a new one made by `sign(exp)`. */
  get(
    hostId: string,
    region: string,
    now: number,
    reuseMs: number,
    sign: (exp: number) => string,
  ): string {
    const t = this.byHost.get(hostId);
    if (
      t &&
      t.region === region &&
      t.exp - now >= TICKET_TTL_MS - reuseMs &&
      t.exp - now <= TICKET_TTL_MS
    ) {
      return t.ticket;
    }
    const exp = now + TICKET_TTL_MS;
    const ticket = sign(exp);
    this.byHost.set(hostId, { region, exp, ticket });
    return ticket;
  }

  /** A removed host gets no ticket again. */
  forget(hostId: string): void {
    this.byHost.delete(hostId);
  }
}
