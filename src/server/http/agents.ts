/** The agents' side of the API: enrollment, goal state (long poll) and status reports. */
import { routes } from '../../api/index.js';
import { agentGoal, enroll, Reports } from '../app/agents.js';
import type { AppContext } from '../app/context.js';
import { addRoute, type RouteHost } from './route.js';

/** Why a long poll stopped waiting: its caller went away. */
const CLIENT_GONE = new Error('the agent closed its long poll');

export function agentRoutes(host: RouteHost, ctx: AppContext): void {
  addRoute(host, routes.enroll, ({ identity, body }) => enroll(ctx, identity, body));

  addRoute(host, routes.agentGoal, async ({ identity, query, request }) => {
    // Aborted with a reason made once: the default one is a DOMException, stack and all.
    const closed = new AbortController();
    const onClose = () => closed.abort(CLIENT_GONE);
    request.raw.once('close', onClose);
    try {
      return await agentGoal(ctx, identity, { ...query, closed: closed.signal });
    } finally {
      request.raw.off('close', onClose);
    }
  });

  const reports = new Reports(ctx);
  addRoute(host, routes.agentReport, ({ identity, body, request }) => {
    reports.record(identity, body, request.ip);
    return Promise.resolve({ ok: true as const });
  });
}
