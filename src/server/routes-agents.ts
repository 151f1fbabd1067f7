/** The agents' side of the API: enrollment, goal state (long poll) and status reports. */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { SlipwayError } from '../core/index.js';
import { routes, type AgentReport } from '../api/index.js';
import type { Store } from '../store/index.js';
import { hashToken, newToken, type Caller } from './auth.js';
import type { EventBus } from './event-bus.js';
import { goalOfHost } from './goal-state.js';
import { addRoute } from './http.js';

function hostIdOf(caller: Caller): string {
  if (caller.kind !== 'agent') throw new SlipwayError('FORBIDDEN', 'only agents have a goal state');
  return caller.hostId;
}

export function agentRoutes(app: FastifyInstance, store: Store, bus: EventBus): void {
  addRoute(app, store, routes.enroll, async ({ body }) => {
    const token = newToken('agent');
    const host = await store.transaction(async (tx) => {
      const h = await tx.upsertHost({
        id: randomUUID(),
        name: body.name,
        region: body.region,
        labels: body.labels,
      });
      // One credential per host: re-enrolling (a host rebuilt under the same name) replaces it.
      await tx.revokeHostTokens(h.id);
      await tx.addToken(hashToken(token), 'agent', h.id);
      await tx.touchHost(h.id, new Date());
      return h;
    });
    bus.publish(
      await store.addEvents([
        {
          deploymentId: null,
          type: 'host.enrolled',
          data: { host: host.name, region: host.region },
        },
      ]),
    );
    return { hostId: host.id, token };
  });

  addRoute(app, store, routes.agentGoal, async ({ caller, query, request }) => {
    const hostId = hostIdOf(caller);
    await store.touchHost(hostId, new Date());
    let host = await store.host(hostId);
    if (host && host.goalGeneration <= query.after && query.waitMs > 0) {
      const aborted = new AbortController();
      request.raw.once('close', () => aborted.abort());
      await bus.waitForGoal(hostId, query.waitMs, aborted.signal);
      host = await store.host(hostId);
    }
    if (!host) throw new SlipwayError('UNAUTHENTICATED', 'this host is no longer registered');
    return goalOfHost(store, host);
  });

  // What each host last reported, less fetch progress: the orchestrator is woken only when
  // that changes. Its regular tick still sees progress; a fleet fetching at once sends a
  // report a second per host, and a pass for each would keep the server busy with nothing new.
  const lastStates = new Map<string, string>();
  addRoute(app, store, routes.agentReport, async ({ caller, body }) => {
    const hostId = hostIdOf(caller);
    await store.saveReport(hostId, body, body.bytesReceived, new Date());
    const states = reportedStates(body);
    if (lastStates.get(hostId) !== states) {
      lastStates.set(hostId, states);
      bus.reported(hostId);
    }
    return { ok: true as const };
  });
}

/** A report's services without their fetch progress, as a string to compare. */
function reportedStates(report: AgentReport): string {
  return JSON.stringify(
    report.services.map((s) => ({ ...s, fetching: s.fetching && s.fetching.version })),
  );
}
