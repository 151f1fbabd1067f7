/**
 * People, machine accounts and their tokens: each token holds one grant (a role on a scope), is
 * shown once when made, kept as a hash, listed by id without its secret, and revocable. The
 * server never ends up without a token that may administer it.
 */
import { randomBytes } from 'node:crypto';
import {
  ConflictError,
  NotFoundError,
  ROLE_PERMISSIONS,
  SlipwayError,
  checkGrant,
  resolveEnvironment,
  type Grant,
} from '../../core/index.js';
import type { ApiToken, CreatedToken, User, Whoami } from '../../api/index.js';
import type { Store, UserKind, UserTokenRow } from '../../store/index.js';
import type { Identity } from '../authz/identity.js';
import { hashToken, newToken } from '../authz/tokens.js';
import type { AppContext } from './context.js';
import { currentServiceMap } from './service-map.js';

/** The user the first-start admin token belongs to; it cannot be removed. */
export const BUILT_IN_ADMIN = 'admin';

export function whoami(actor: Identity): Whoami {
  if (actor.kind !== 'user')
    throw new SlipwayError('FORBIDDEN', `a ${actor.kind} token has no user`);
  return {
    user: actor.name,
    tokenId: actor.tokenId,
    grant: actor.grant,
    permissions: [...ROLE_PERMISSIONS[actor.grant.role]],
  };
}

export async function listUsers(store: Store): Promise<User[]> {
  return (await store.users.list()).map((u) => ({ ...u, createdAt: u.createdAt.toISOString() }));
}

export async function createUser(
  ctx: AppContext,
  actor: Identity,
  req: { name: string; kind: UserKind },
): Promise<User> {
  const row = await ctx.uow.run(actor, async ({ tx, emit }) => {
    if (await tx.users.get(req.name)) throw new ConflictError(`user ${req.name} already exists`);
    const u = await tx.users.add(req.name, req.kind);
    emit('user.created', { user: u.name, kind: u.kind });
    return u;
  });
  return { ...row, createdAt: row.createdAt.toISOString() };
}

export async function removeUser(ctx: AppContext, actor: Identity, name: string): Promise<void> {
  if (name === BUILT_IN_ADMIN) {
    throw new SlipwayError(
      'CONFLICT',
      'the built-in admin user cannot be removed; revoke its tokens instead',
    );
  }
  await ctx.uow.run(actor, async ({ tx, emit }) => {
    if (!(await tx.users.get(name))) throw new NotFoundError('user', name);
    const tokens = await tx.tokens.listOfUsers();
    keepAnAdmin(tokens, (t) => t.user === name, `removing ${name}`, ctx.now());
    await tx.tokens.revokeOfUser(name);
    await tx.users.remove(name);
    emit('user.removed', {
      user: name,
      tokensRevoked: tokens.filter((t) => t.user === name).length,
    });
  });
}

export async function listTokens(store: Store): Promise<ApiToken[]> {
  return (await store.tokens.listOfUsers()).map(tokenView);
}

export async function createToken(
  ctx: AppContext,
  actor: Identity,
  req: {
    user: string;
    role: Grant['role'];
    environment?: string;
    service?: string;
    expiresInMs?: number;
  },
): Promise<CreatedToken> {
  const grant: Grant = {
    role: req.role,
    environment: req.environment ?? null,
    service: req.service ?? null,
  };
  checkGrant(grant);
  const token = newToken('user');
  const row = await ctx.uow.run(actor, async ({ tx, emit }) => {
    if (!(await tx.users.get(req.user))) {
      throw new SlipwayError(
        'NOT_FOUND',
        `no user ${JSON.stringify(req.user)}: add it first (slipway users create ${req.user})`,
        { kind: 'user', id: req.user },
      );
    }
    await checkScopeExists(tx, grant);
    const expiresAt = req.expiresInMs === undefined ? null : new Date(ctx.now() + req.expiresInMs);
    const id = `tok_${randomBytes(6).toString('hex')}`;
    const made = await tx.tokens.addForUser(hashToken(token), {
      id,
      user: req.user,
      grant,
      expiresAt,
    });
    emit('token.created', {
      id,
      user: req.user,
      grant,
      expiresAt: expiresAt?.toISOString() ?? null,
    });
    return made;
  });
  return { ...tokenView(row), token };
}

export async function revokeToken(ctx: AppContext, actor: Identity, id: string): Promise<void> {
  await ctx.uow.run(actor, async ({ tx, emit }) => {
    const tokens = await tx.tokens.listOfUsers();
    const t = tokens.find((x) => x.id === id);
    if (!t) throw new NotFoundError('token', id);
    keepAnAdmin(tokens, (x) => x.id === id, `revoking ${id}`, ctx.now());
    await tx.tokens.revoke(id);
    emit('token.revoked', { id, user: t.user });
  });
}

function tokenView(t: UserTokenRow): ApiToken {
  return {
    id: t.id,
    user: t.user,
    grant: t.grant,
    createdAt: t.createdAt.toISOString(),
    expiresAt: t.expiresAt?.toISOString() ?? null,
  };
}

/** Refuses a change that would leave no unexpired admin token: nobody could administer the server. */
function keepAnAdmin(
  tokens: UserTokenRow[],
  going: (t: UserTokenRow) => boolean,
  what: string,
  now: number,
): void {
  const admin = (t: UserTokenRow) =>
    t.grant.role === 'admin' && (t.expiresAt === null || t.expiresAt.getTime() > now);
  if (tokens.some((t) => admin(t) && going(t)) && !tokens.some((t) => admin(t) && !going(t))) {
    throw new SlipwayError(
      'CONFLICT',
      `${what} would leave no admin token: make another admin token first (slipway tokens create --user U --role admin)`,
    );
  }
}

/** A grant naming an environment or service the service map does not have is likely a typo. */
async function checkScopeExists(store: Store, g: Grant): Promise<void> {
  const map = (await currentServiceMap(store))?.map;
  if (!map) return;
  // Throws NOT_FOUND naming the environments there are.
  if (g.environment !== null) resolveEnvironment(map, g.environment);
  if (g.service !== null && !Object.hasOwn(map.services, g.service)) {
    throw new NotFoundError('service', g.service);
  }
}
