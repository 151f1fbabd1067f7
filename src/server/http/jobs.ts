/** Jobs: submit, list, show, follow the output of, cancel; and the hosts' reports of their runs. */
import { routes } from '../../api/index.js';
import type { AppContext } from '../app/context.js';
import { agentJobReport, cancelJob, createJob, getJob, jobOutput, listJobs } from '../app/jobs.js';
import { addRoute, type RouteHost } from './route.js';

/** Why a follow stopped waiting: its caller went away. */
const CLIENT_GONE = new Error('the caller closed its request');

export function jobRoutes(host: RouteHost, ctx: AppContext): void {
  addRoute(host, routes.createJob, ({ identity, body }) => createJob(ctx, identity, body));
  addRoute(host, routes.listJobs, ({ query }) => listJobs(ctx.store, query.limit));
  addRoute(host, routes.getJob, ({ params }) => getJob(ctx.store, params.id ?? ''));
  addRoute(host, routes.jobOutput, async ({ params, query, request }) => {
    const closed = new AbortController();
    const onClose = () => closed.abort(CLIENT_GONE);
    request.raw.once('close', onClose);
    try {
      return await jobOutput(ctx, params.id ?? '', query, closed.signal);
    } finally {
      request.raw.off('close', onClose);
    }
  });
  addRoute(host, routes.cancelJob, ({ identity, params }) =>
    cancelJob(ctx, identity, params.id ?? ''),
  );
  addRoute(host, routes.agentJobReport, async ({ identity, params, body }) => {
    await agentJobReport(ctx, identity, params.id ?? '', body);
    return { ok: true as const };
  });
}
