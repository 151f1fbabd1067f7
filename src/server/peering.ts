/**
 * What an agent needs to trade chunks with its region: a short-lived ticket signed by the
 * control plane, the key that checks other agents' tickets, and who its peers are.
 */
import type { Peering } from '../api/index.js';
import { generateSigningKey, signTicket } from '../distribution/index.js';
import type { HostRow, Store } from '../store/index.js';
import { isOnline, reportOf } from './views.js';

/** Tickets outlive a few missed goal answers (renewed with every one, at least every 25 s). */
const TICKET_TTL_MS = 10 * 60_000;

/** The ticket-signing key of each store, read once: it never changes once stored. */
const signingKeys = new WeakMap<Store, Promise<{ privatePem: string; publicPem: string }>>();

function signingKey(store: Store): Promise<{ privatePem: string; publicPem: string }> {
  let key = signingKeys.get(store);
  if (!key) {
    key = store.serverKey('peer-tickets', generateSigningKey);
    // A failed read is not remembered: the next goal answer tries again.
    key.catch(() => signingKeys.delete(store));
    signingKeys.set(store, key);
  }
  return key;
}

export async function peeringOf(store: Store, host: HostRow, now: number): Promise<Peering> {
  const key = await signingKey(store);
  const ticket = signTicket(key.privatePem, {
    hostId: host.id,
    region: host.region,
    exp: now + TICKET_TTL_MS,
  });
  const peers = (await store.listHosts())
    .filter((h) => h.id !== host.id && h.region === host.region && isOnline(h, now))
    .flatMap((h) => {
      const r = reportOf(h);
      return r.peerUrl ? [{ hostId: h.id, name: h.name, url: r.peerUrl, relay: r.relay }] : [];
    });
  return { ticket, serverKey: key.publicPem, peers };
}
