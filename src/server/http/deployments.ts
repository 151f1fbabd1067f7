/** Deployments and their event streams. */
import { routes } from '../../api/index.js';
import type { AppContext } from '../app/context.js';
import {
  approveDeployment,
  cancelDeployment,
  pauseDeployment,
  rejectDeployment,
} from '../app/deployment-requests.js';
import {
  createDeployment,
  dryRunDeployment,
  getDeployment,
  listDeployments,
  viewOf,
} from '../app/deployments.js';
import type { EventFeed } from '../events/event-feed.js';
import { streamEvents } from './event-stream.js';
import { addRoute, type RouteHost } from './route.js';

export function deploymentRoutes(host: RouteHost, ctx: AppContext, feed: EventFeed): void {
  addRoute(host, routes.createDeployment, ({ identity, body }) =>
    createDeployment(ctx, identity, body),
  );

  addRoute(host, routes.planDeployment, ({ identity, body }) =>
    dryRunDeployment(ctx, identity, body),
  );

  addRoute(host, routes.listDeployments, ({ query }) =>
    listDeployments(ctx, { service: query.service, environment: query.environment }, query.limit),
  );

  addRoute(host, routes.getDeployment, async ({ params }) =>
    viewOf(ctx, await getDeployment(ctx.store, params.id ?? '')),
  );

  addRoute(host, routes.cancelDeployment, ({ identity, params }) =>
    cancelDeployment(ctx, identity, params.id ?? ''),
  );

  addRoute(host, routes.pauseDeployment, ({ identity, params }) =>
    pauseDeployment(ctx, identity, params.id ?? '', true),
  );

  addRoute(host, routes.resumeDeployment, ({ identity, params }) =>
    pauseDeployment(ctx, identity, params.id ?? '', false),
  );

  addRoute(host, routes.approveDeployment, ({ identity, params }) =>
    approveDeployment(ctx, identity, params.id ?? ''),
  );

  addRoute(host, routes.rejectDeployment, ({ identity, params, body }) =>
    rejectDeployment(ctx, identity, params.id ?? '', body.reason),
  );

  addRoute(host, routes.deploymentEvents, async ({ params, request, reply }) => {
    // The full id (the path may hold a prefix); 404 for an unknown deployment.
    const { deployment } = await getDeployment(ctx.store, params.id ?? '');
    return streamEvents(ctx.store, feed, request, reply, {
      deploymentId: deployment.id,
      after: 0,
    });
  });

  addRoute(host, routes.events, async ({ query, request, reply }) =>
    streamEvents(ctx.store, feed, request, reply, {
      deploymentId: null,
      after: query.after ?? (await ctx.store.events.lastId()),
    }),
  );
}
