/** The service map, hosts, releases and what runs where. */
import { NotFoundError } from '../../core/index.js';
import { routes, type StatusRow } from '../../api/index.js';
import type { AppContext } from '../app/context.js';
import { removeHost, setRelay } from '../app/hosts.js';
import { applyServiceMap, currentServiceMap } from '../app/service-map.js';
import { reportOf } from '../hosts/live-hosts.js';
import { hostView, isOnline, releaseView } from '../views.js';
import { addRoute, type RouteHost } from './route.js';

export function fleetRoutes(host: RouteHost, ctx: AppContext): void {
  addRoute(host, routes.applyServiceMap, ({ identity, body }) =>
    applyServiceMap(ctx, identity, body),
  );

  addRoute(host, routes.getServiceMap, async () => {
    const rec = await currentServiceMap(ctx.store);
    if (!rec) throw new NotFoundError('service map', 'current');
    return rec;
  });

  addRoute(host, routes.listHosts, async ({ query }) => {
    const page = await ctx.hosts.page(query);
    return { hosts: page.hosts.map((h) => hostView(h, ctx.now())), next: page.next };
  });

  addRoute(host, routes.removeHost, async ({ identity, params }) => {
    await removeHost(ctx, identity, params.name ?? '');
    return { ok: true as const };
  });

  addRoute(host, routes.setHostRelay, async ({ identity, params, body }) =>
    hostView(await setRelay(ctx, identity, params.name ?? '', body.relay), ctx.now()),
  );

  addRoute(host, routes.listReleases, async ({ params }) =>
    (await ctx.store.releases.list(params.service ?? '')).map(releaseView),
  );

  addRoute(host, routes.status, async ({ query }) => {
    const rows: StatusRow[] = [];
    const now = ctx.now();
    const page = await ctx.hosts.page(query);
    for (const h of page.hosts) {
      for (const s of reportOf(h).services) {
        if (query.service !== undefined && s.service !== query.service) continue;
        rows.push({
          host: h.name,
          region: h.region,
          online: isOnline(h, now),
          service: s.service,
          active: s.active?.version ?? null,
          state: s.active?.state ?? (s.fetching ? 'fetching' : 'idle'),
          staged: s.staged,
          port: s.active?.port ?? null,
        });
      }
    }
    return { rows, next: page.next };
  });
}
