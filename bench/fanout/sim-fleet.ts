/**
 * Simulated agents of one thread (see sim-threads.ts), split round-robin between the server
 * replicas.
 */
import { Agent } from 'undici';
import { lightFetch } from './light-fetch.js';
import { SimAgent } from './sim-agent.js';

/**
 * Simulated agents that share one connection pool. A real agent has its own process and pool;
 * in one pool of 10,000 agents' connections, finding a free one to send on scans them all (in
 * the bench at 5,000 agents that scan took a core: the bench, not the server, set the pace).
 */
const AGENTS_PER_POOL = 32;
/**
 * Connections a pool may open, per agent in it: each holds one for its long poll nearly all the
 * time, and reports share the rest (10,000 agents then fit under 20,000 descriptors).
 */
export const CONNECTIONS_PER_AGENT = 1.5;

/**
 * Agents `sim-<i>` for i from `first`, `n` of them, of a fleet over `regions` regions `r1..`
 * whose first agent of each region is its relay.
 */
export function makeFleet(
  first: number,
  n: number,
  regions: number,
  servers: readonly string[],
  joinToken: string,
): SimAgent[] {
  // Pools by server: an agent talks to one server, and a pool's connections go where its
  // agents' do.
  const pools = servers.map(() => ({ members: 0, fetch: fetch }));
  return Array.from({ length: n }, (_, k) => {
    const i = first + k;
    const pool = pools[i % servers.length]!;
    if (pool.members++ % AGENTS_PER_POOL === 0) {
      pool.fetch = lightFetch(new Agent({ connections: AGENTS_PER_POOL * CONNECTIONS_PER_AGENT }));
    }
    const spec = { name: `sim-${i}`, region: `r${(i % regions) + 1}`, relay: i < regions };
    return new SimAgent(spec, servers[i % servers.length]!, joinToken, pool.fetch);
  });
}

/** Runs `fn` over `items`, at most `limit` at once; rejects with the first failure. */
export async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Enrolls every agent, `concurrency` at a time; resolves with the seconds it took. */
export async function enrollAll(agents: readonly SimAgent[], concurrency: number): Promise<number> {
  const start = performance.now();
  await eachLimited(agents, concurrency, async (a) => {
    try {
      await a.enroll();
    } catch (e) {
      throw new Error(`${a.spec.name} could not enroll: ${(e as Error).message}`, { cause: e });
    }
  });
  return (performance.now() - start) / 1000;
}

/**
 * When each agent first got a goal naming `service@version`, in milliseconds since the epoch
 * (comparable between threads), or null.
 */
export function arrivals(agents: readonly SimAgent[], service: string, version: number) {
  return agents.map((a) => {
    const t = a.firstSeen.get(`${service}@${version}`);
    return t === undefined ? null : performance.timeOrigin + t;
  });
}

/** Errors and reports summed over the fleet. */
export function fleetCounters(agents: readonly SimAgent[]) {
  let goalErrors = 0;
  let reportErrors = 0;
  let reports = 0;
  const errors = new Map<string, number>();
  for (const a of agents) {
    for (const [m, n] of a.errors) errors.set(m, (errors.get(m) ?? 0) + n);
    goalErrors += a.goalErrors;
    reportErrors += a.reportErrors;
    reports += a.reports;
  }
  const commonest = [...errors].sort((a, b) => b[1] - a[1]).slice(0, 5);
  return { goalErrors, reportErrors, reports, commonest };
}
