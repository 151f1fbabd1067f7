/** The audit trail: read a page at a time, and verified whole. */
import { routes } from '../../api/index.js';
import type { AuditEntry, Store } from '../../store/index.js';
import { addRoute, type RouteHost } from './route.js';

export function auditRoutes(host: RouteHost, store: Store): void {
  addRoute(host, routes.listAudit, async ({ query }) =>
    (
      await store.audit.list({
        afterSeq: query.after,
        since: query.since === undefined ? undefined : new Date(query.since),
        // A user by name; any other actor (`system:orchestrator`, `agent:…`) as written.
        actor:
          query.user === undefined || query.user.includes(':') ? query.user : `user:${query.user}`,
        environment: query.environment,
        limit: query.limit,
      })
    ).map(entryView),
  );
  addRoute(host, routes.verifyAudit, () => store.audit.verify());
}

function entryView(e: AuditEntry) {
  return { ...e, at: e.at.toISOString() };
}
