/**
 * What one goal answer's peering costs the control plane at a few fleet sizes: the per-region
 * peer sets the live host state keeps (what `peeringOf` does now) against reading every host row
 * and filtering it (what it did before, reimplemented here as the baseline), side by side in one
 * run on the same store.
 *
 *   npm run bench:goal-answer [-- --hosts 500,5000 --regions 4]
 *
 * An embedded store in memory holds the hosts, spread over `--regions` regions with one relay
 * each, every one online with a checked peer URL and a report of two services. Both sides sign
 * the ticket too ("of which peers" is the new side without it). The new side also reads every
 * host from the store once per refresh (for agents that report to other servers; rarely with
 * the embedded store, which no other server shares): that cost is shown as a share of a core.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { hostReport, type HostReport, type Peering } from '../src/api/index.js';
import { shuffle } from '../src/core/index.js';
import { signTicket } from '../src/distribution/index.js';
import type { AppContext } from '../src/server/app/context.js';
import { PEERS_SENT, peeringOf } from '../src/server/app/peering.js';
import { RecentTickets, TICKET_TTL_MS } from '../src/server/app/recent-tickets.js';
import { TicketKey } from '../src/server/app/ticket-key.js';
import { LiveHosts, reportOf } from '../src/server/hosts/live-hosts.js';
import { FULL_READ_MS } from '../src/server/hosts/host-cache.js';
import { isOnline } from '../src/server/views.js';
import { openStore, type HostRow, type Store } from '../src/store/index.js';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '500,5000' },
    regions: { type: 'string', default: '4' },
  },
});
const sizes = values.hosts.split(',').map(Number);
const regions = Number(values.regions);

/** The baseline: every host row read and filtered for each answer. */
async function fullScanPeeringOf(ctx: AppContext, host: HostRow): Promise<Peering> {
  const now = ctx.now();
  const key = await ctx.ticketKey.get();
  const ticket = signTicket(key.privatePem, {
    hostId: host.id,
    region: host.region,
    exp: now + TICKET_TTL_MS,
  });
  const region = (await ctx.store.hosts.list())
    .filter((h) => h.id !== host.id && h.region === host.region && isOnline(h, now))
    .flatMap((h) => {
      const r = reportOf(h);
      return r.checkedPeerUrl
        ? [{ hostId: h.id, name: h.name, url: r.checkedPeerUrl, relay: h.relay }]
        : [];
    });
  const relays = region.filter((p) => p.relay);
  const others = region.filter((p) => !p.relay);
  const fetchers = [...others.map((p) => p.hostId), host.id].sort();
  const share = host.relay ? null : { index: fetchers.indexOf(host.id), of: fetchers.length };
  return {
    ticket,
    serverKey: key.publicPem,
    peers: [...relays, ...shuffle(others).slice(0, PEERS_SENT)],
    share,
  };
}

function reportFor(i: number): HostReport {
  const service = (name: string, version: number) => ({
    service: name,
    staged: [version - 1, version],
    stagingFailed: null,
    fetching: null,
    active: { version, state: 'healthy', detail: null, port: 8000 + version, pid: 1000 + i },
  });
  return hostReport.parse({
    services: [service('web', 12), service('worker', 7)],
    bytesReceived: { origin: 123_456_789, peers: 987_654_321, relay: 55_555 },
    bytesServed: 42_424_242,
    peerUrl: `http://10.${i >> 16}.${(i >> 8) & 255}.${i & 255}:7401`,
    checkedPeerUrl: `http://10.${i >> 16}.${(i >> 8) & 255}.${i & 255}:7401`,
  });
}

async function fleet(store: Store, n: number): Promise<HostRow[]> {
  const hosts: HostRow[] = [];
  const states = new Map<string, { report: HostReport; seenAt: Date }>();
  await store.transaction(async (tx) => {
    for (let i = 0; i < n; i++) {
      const region = `r${i % regions}`;
      const h = await tx.hosts.add({
        id: randomUUID(),
        name: `host-${i}`,
        region,
        labels: {},
        relay: i < regions,
      });
      hosts.push(h!);
      states.set(h!.id, { report: reportFor(i), seenAt: new Date() });
    }
    await tx.hosts.saveLiveState(states);
  });
  return hosts;
}

/** Mean milliseconds of `run` over at least `minMs` (and at least 5 runs), after a warm-up. */
async function timed(run: () => Promise<unknown>, minMs: number): Promise<number> {
  for (let i = 0; i < 3; i++) await run();
  const start = performance.now();
  let runs = 0;
  while (runs < 5 || performance.now() - start < minMs) {
    await run();
    runs++;
  }
  return (performance.now() - start) / runs;
}

const pct = (ms: number, every: number) => `${((ms / every) * 100).toFixed(1)}%`;
const fmt = (ms: number) => (ms >= 1 ? `${ms.toFixed(1)} ms` : `${(ms * 1000).toFixed(0)} µs`);

console.log(
  `one goal answer's peering, ${regions} regions, one relay each, every host online with a peer URL`,
);
console.log(
  'hosts   full scan (before)   region sets (now)   of which peers    ratio   one full store read',
);
for (const n of sizes) {
  const store = await openStore({ engine: 'pglite', dataDir: null });
  try {
    const hosts = await fleet(store, n);
    const live = new LiveHosts(store);
    const ctx = {
      store,
      hosts: live,
      ticketKey: new TicketKey(store, randomBytes(32)),
      tickets: new RecentTickets(),
      now: Date.now,
    } as unknown as AppContext;
    let i = 0;
    const asker = () => hosts[regions + (i++ % (hosts.length - regions))]!;
    // The new side first: the baseline's garbage would be collected on its time otherwise.
    const after = await timed(() => peeringOf(ctx, asker()), 2_000);
    const peers = await timed(() => live.regionPeers(asker(), Date.now(), PEERS_SENT), 1_000);
    const before = await timed(() => fullScanPeeringOf(ctx, asker()), 2_000);
    const read = await timed(() => store.hosts.list(), 1_000);
    console.log(
      [
        String(n).padStart(5),
        fmt(before).padStart(18),
        fmt(after).padStart(17),
        fmt(peers).padStart(15),
        `${(before / after).toFixed(0)}×`.padStart(6),
        `${fmt(read)}: ${pct(read, FULL_READ_MS)} of a core (the host cache reads every row every ${FULL_READ_MS / 1000} s)`,
      ].join('   '),
    );
    await live.close();
  } finally {
    await store.close();
  }
}
