/** Who is calling, and the users and tokens an admin keeps. */
import { routes } from '../../api/index.js';
import {
  createToken,
  createUser,
  listTokens,
  listUsers,
  removeUser,
  revokeToken,
  whoami,
} from '../app/access.js';
import type { AppContext } from '../app/context.js';
import { addRoute, type RouteHost } from './route.js';

export function accessRoutes(host: RouteHost, ctx: AppContext): void {
  addRoute(host, routes.whoami, ({ identity }) => Promise.resolve(whoami(identity)));
  addRoute(host, routes.listUsers, () => listUsers(ctx.store));
  addRoute(host, routes.createUser, ({ identity, body }) => createUser(ctx, identity, body));
  addRoute(host, routes.removeUser, async ({ identity, params }) => {
    await removeUser(ctx, identity, params.name ?? '');
    return { ok: true as const };
  });
  addRoute(host, routes.listTokens, () => listTokens(ctx.store));
  addRoute(host, routes.createToken, ({ identity, body }) => createToken(ctx, identity, body));
  addRoute(host, routes.revokeToken, async ({ identity, params }) => {
    await revokeToken(ctx, identity, params.id ?? '');
    return { ok: true as const };
  });
}
