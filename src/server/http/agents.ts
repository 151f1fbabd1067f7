/** The agents' side of the API: enrollment, goal state (long poll) and status reports. */
import { routes } from '../../api/index.js';
import { agentGoal, enroll, Reports } from '../app/agents.js';
import type { AppContext } from '../app/context.js';
import { addRoute, type RouteHost } from './route.js';

export function agentRoutes(host: RouteHost, ctx: AppContext): void {
  addRoute(host, routes.enroll, ({ identity, body }) => enroll(ctx, identity, body));

  addRoute(host, routes.agentGoal, ({ identity, query, request }) => {
    const closed = new AbortController();
    request.raw.once('close', () => closed.abort());
    return agentGoal(ctx, identity, { ...query, closed: closed.signal });
  });

  const reports = new Reports(ctx);
  addRoute(host, routes.agentReport, ({ identity, body, request }) => {
    reports.record(identity, body, request.ip);
    return Promise.resolve({ ok: true as const });
  });
}
