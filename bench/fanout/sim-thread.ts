/**
 * One thread of simulated agents (see sim-threads.ts): makes its share of the fleet, and answers
 * the bench's requests about it, one message each.
 */
import { setMaxListeners } from 'node:events';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { arrivals, enrollAll, fleetCounters, makeFleet } from './sim-fleet.js';
import type { SimRequest, SimThreadSpec } from './sim-threads.js';

/**
 * How much lower than the servers this thread runs (a nice value; on Linux it applies to the
 * calling thread only). 10,000 agents each have a machine of their own: here they share the
 * servers' two cores, and without this their threads took the CPU from the server for up to a
 * second at a time during a fan-out, which measured the scheduler, not the server.
 */
const NICE = 10;

const spec = workerData as SimThreadSpec;
try {
  setPriority(NICE);
} catch {
  // Not allowed to lower it (some containers): the bench runs on, as it did before.
}
const port = parentPort!;
const sims = makeFleet(spec.first, spec.count, spec.regions, spec.servers, spec.joinToken);
const stop = new AbortController();
// Every agent's long poll and wait listens to it.
setMaxListeners(0, stop.signal);

async function answer(req: SimRequest): Promise<unknown> {
  switch (req.op) {
    case 'enroll':
      return enrollAll(sims, req.concurrency);
    case 'run':
      for (const s of sims) void s.run(stop.signal);
      return null;
    case 'unreported':
      return sims.filter((s) => s.reports === 0).length;
    case 'waiting':
      return arrivals(sims, req.service, req.version).filter((t) => t === null).length;
    case 'arrivals':
      return arrivals(sims, req.service, req.version);
    case 'counters':
      return fleetCounters(sims);
    case 'stop':
      stop.abort();
      return null;
  }
}

port.on('message', (msg: { id: number; req: SimRequest }) => {
  answer(msg.req).then(
    (result) => port.postMessage({ id: msg.id, result }),
    (e: unknown) => port.postMessage({ id: msg.id, error: (e as Error).message }),
  );
});
