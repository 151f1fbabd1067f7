/** Deployments and their event streams, the service map, hosts, releases and status. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { NotFoundError, isTerminal, requestCancel } from '../core/index.js';
import { parseServiceMap, routes, type StatusRow } from '../api/index.js';
import type { EventRow, HostRow, Store } from '../store/index.js';
import type { EventBus } from './event-bus.js';
import { createDeployment } from './deployments.js';
import { addRoute } from './http.js';
import type { Orchestrator } from './orchestrator.js';
import { currentServiceMap } from './service-map.js';
import {
  deploymentOf,
  deploymentView,
  hostView,
  isOnline,
  releaseView,
  reportOf,
} from './views.js';

export function controlRoutes(
  app: FastifyInstance,
  store: Store,
  bus: EventBus,
  orchestrator: Orchestrator,
  now: () => number,
): void {
  const hostsById = async () =>
    new Map((await store.listHosts()).map((h) => [h.id, h] as [string, HostRow]));

  addRoute(app, store, routes.applyServiceMap, async ({ body }) => {
    const map = parseServiceMap(body); // throws one ValidationError listing every problem
    await store.saveServiceMap(body, map);
    const rec = (await currentServiceMap(store))!;
    bus.publish(
      await store.addEvents([
        { deploymentId: null, type: 'service-map.applied', data: { version: rec.version } },
      ]),
    );
    return rec;
  });

  addRoute(app, store, routes.getServiceMap, async () => {
    const rec = await currentServiceMap(store);
    if (!rec) throw new NotFoundError('service map', 'current');
    return rec;
  });

  addRoute(app, store, routes.listHosts, async () =>
    (await store.listHosts()).map((h) => hostView(h, now())),
  );

  addRoute(app, store, routes.listReleases, async ({ params }) =>
    (await store.listReleases(params.service ?? '')).map(releaseView),
  );

  addRoute(app, store, routes.createDeployment, async ({ body }) => {
    const created = await createDeployment(store, body, now());
    const events = [
      {
        deploymentId: created.deployment.id,
        type: 'deployment.created',
        data: { ...created.deployment, skippedOffline: created.skippedOffline },
      },
    ];
    bus.publish(await store.addEvents(events));
    orchestrator.kick();
    return deploymentView((await store.deployment(created.deployment.id))!, await hostsById());
  });

  addRoute(app, store, routes.listDeployments, async ({ query }) => {
    const hosts = await hostsById();
    return (await store.listDeployments(query.service, query.limit)).map((r) =>
      deploymentView(r, hosts),
    );
  });

  addRoute(app, store, routes.getDeployment, async ({ params }) => {
    const row = await store.deployment(params.id ?? '');
    if (!row) throw new NotFoundError('deployment', params.id ?? '');
    return deploymentView(row, await hostsById());
  });

  addRoute(app, store, routes.cancelDeployment, async ({ params }) => {
    const id = params.id ?? '';
    await store.transaction(async (tx) => {
      const row = await tx.deploymentForUpdate(id);
      if (!row) throw new NotFoundError('deployment', id);
      const d = deploymentOf(row);
      if (!isTerminal(d.state)) await tx.updateDeployment(requestCancel(d));
    });
    orchestrator.kick();
    await orchestrator.pass();
    return deploymentView((await store.deployment(id))!, await hostsById());
  });

  addRoute(app, store, routes.status, async () => {
    const rows: StatusRow[] = [];
    for (const h of await store.listHosts()) {
      for (const s of reportOf(h).services) {
        rows.push({
          host: h.name,
          region: h.region,
          online: isOnline(h, now()),
          service: s.service,
          active: s.active?.version ?? null,
          state: s.active?.state ?? (s.fetching ? 'fetching' : 'idle'),
          staged: s.staged,
          port: s.active?.port ?? null,
        });
      }
    }
    return rows;
  });

  addRoute(app, store, routes.deploymentEvents, async ({ params, request, reply }) => {
    const id = params.id ?? '';
    const row = await store.deployment(id);
    if (!row) throw new NotFoundError('deployment', id);
    return streamEvents(store, bus, request, reply, { deploymentId: id, after: 0 });
  });

  addRoute(app, store, routes.events, async ({ query, request, reply }) =>
    streamEvents(store, bus, request, reply, {
      deploymentId: null,
      after: query.after ?? (await store.lastEventId()),
    }),
  );
}

/**
 * Server-sent events: first what is stored after `after`, then live events as they are
 * published. A deployment's stream ends once the deployment has ended.
 */
async function streamEvents(
  store: Store,
  bus: EventBus,
  request: FastifyRequest,
  reply: FastifyReply,
  opts: { deploymentId: string | null; after: number },
): Promise<FastifyReply> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  let last = opts.after;
  let ended = false;
  const queue: EventRow[] = [];
  const send = (e: EventRow) => {
    if (ended || e.id <= last) return;
    if (opts.deploymentId !== null && e.deploymentId !== opts.deploymentId) return;
    last = e.id;
    res.write(
      `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify({ id: e.id, at: e.at.toISOString(), deploymentId: e.deploymentId, type: e.type, data: e.data })}\n\n`,
    );
    if (
      opts.deploymentId !== null &&
      e.type === 'deployment.state' &&
      isTerminal((e.data as { state: never }).state)
    ) {
      finish();
    }
  };
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
  // Buffer live events while the backlog is read, so none falls between the two.
  let live = false;
  const unsubscribe = bus.onEvent((e) => (live ? send(e) : void queue.push(e)));
  const finish = () => {
    if (ended) return;
    ended = true;
    clearInterval(heartbeat);
    unsubscribe();
    res.end();
  };
  request.raw.once('close', finish);
  for (;;) {
    const batch = await store.eventsAfter(last, opts.deploymentId, 1000);
    for (const e of batch) send(e);
    if (batch.length < 1000 || ended) break;
  }
  for (const e of queue.splice(0)) send(e);
  live = true;
  return reply;
}
