/** API tokens (hashes only), the users they belong to, and the control plane's own key pairs. */
import type { Grant, Role } from '../../core/index.js';
import type { Db } from '../db.js';
import type {
  FoundToken,
  ServerKeyRepository,
  TokenRepository,
  UserKind,
  UserRepository,
  UserRow,
  UserTokenRow,
} from '../repositories.js';
import { revokedPayload } from '../revoked-tokens.js';

/** The first-start admin token's id and user. */
const ADMIN_ID = 'admin';

function grantOf(r: {
  role: string | null;
  environment: string | null;
  service: string | null;
}): Grant | null {
  return r.role === null
    ? null
    : { role: r.role as Role, environment: r.environment, service: r.service };
}

const ADMIN_GRANT: Grant = { role: 'admin', environment: null, service: null };

export class KyselyTokens implements TokenRepository {
  constructor(
    private readonly db: Db,
    /** Announces on the `tokens` channel (with the transaction, when in one). */
    private readonly announce: (payload: string) => Promise<void>,
  ) {}

  async add(hash: string, kind: 'admin' | 'join' | 'agent', hostId?: string): Promise<void> {
    const admin = kind === 'admin' ? { id: ADMIN_ID, user_name: ADMIN_ID } : {};
    await this.db
      .insertInto('tokens')
      .values({ hash, kind, host_id: hostId ?? null, ...admin })
      .execute();
  }

  async addForUser(
    hash: string,
    t: { id: string; user: string; grant: Grant; expiresAt: Date | null },
  ): Promise<UserTokenRow> {
    const row = await this.db
      .insertInto('tokens')
      .values({
        hash,
        kind: 'user',
        id: t.id,
        user_name: t.user,
        role: t.grant.role,
        environment: t.grant.environment,
        service: t.grant.service,
        expires_at: t.expiresAt,
      })
      .returning('created_at')
      .executeTakeFirstOrThrow();
    return {
      id: t.id,
      user: t.user,
      grant: t.grant,
      createdAt: row.created_at,
      expiresAt: t.expiresAt,
    };
  }

  async find(hash: string): Promise<FoundToken | undefined> {
    const row = await this.db
      .selectFrom('tokens')
      .select([
        'kind',
        'host_id',
        'id',
        'user_name',
        'role',
        'environment',
        'service',
        'expires_at',
      ])
      .where('hash', '=', hash)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      kind: row.kind,
      hostId: row.host_id,
      id: row.id,
      user: row.user_name,
      grant: row.kind === 'admin' ? ADMIN_GRANT : grantOf(row),
      expiresAt: row.expires_at,
    };
  }

  async listOfUsers(): Promise<UserTokenRow[]> {
    const rows = await this.db
      .selectFrom('tokens')
      .select([
        'kind',
        'id',
        'user_name',
        'role',
        'environment',
        'service',
        'created_at',
        'expires_at',
      ])
      .where('kind', 'in', ['admin', 'user'])
      .orderBy('user_name')
      .orderBy('created_at')
      .execute();
    return rows.map((r) => ({
      id: r.id ?? ADMIN_ID,
      user: r.user_name ?? ADMIN_ID,
      grant: r.kind === 'admin' ? ADMIN_GRANT : grantOf(r)!,
      createdAt: r.created_at,
      expiresAt: r.expires_at,
    }));
  }

  async revoke(id: string): Promise<boolean> {
    const gone = await this.db
      .deleteFrom('tokens')
      .where('id', '=', id)
      .where('kind', 'in', ['admin', 'user'])
      .returning('hash')
      .execute();
    if (gone.length === 0) return false;
    await this.announce(revokedPayload({ hashes: gone.map((r) => r.hash), hostIds: [] }));
    return true;
  }

  async revokeOfUser(user: string): Promise<void> {
    const gone = await this.db
      .deleteFrom('tokens')
      .where('user_name', '=', user)
      .returning('hash')
      .execute();
    if (gone.length > 0)
      await this.announce(revokedPayload({ hashes: gone.map((r) => r.hash), hostIds: [] }));
  }

  async exists(kind: 'admin' | 'join'): Promise<boolean> {
    const row = await this.db
      .selectFrom('tokens')
      .select('hash')
      .where('kind', '=', kind)
      .executeTakeFirst();
    return row !== undefined;
  }

  async revokeOfHost(hostId: string): Promise<void> {
    const gone = await this.db
      .deleteFrom('tokens')
      .where('host_id', '=', hostId)
      .returning('hash')
      .execute();
    await this.announce(revokedPayload({ hashes: gone.map((r) => r.hash), hostIds: [hostId] }));
  }
}

export class KyselyUsers implements UserRepository {
  constructor(private readonly db: Db) {}

  async add(name: string, kind: UserKind): Promise<UserRow> {
    const row = await this.db
      .insertInto('users')
      .values({ name, kind })
      .returning('created_at')
      .executeTakeFirstOrThrow();
    return { name, kind, createdAt: row.created_at };
  }

  async get(name: string): Promise<UserRow | undefined> {
    const row = await this.db
      .selectFrom('users')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
    return row && { name: row.name, kind: row.kind, createdAt: row.created_at };
  }

  async list(): Promise<UserRow[]> {
    const rows = await this.db.selectFrom('users').selectAll().orderBy('name').execute();
    return rows.map((r) => ({ name: r.name, kind: r.kind, createdAt: r.created_at }));
  }

  async remove(name: string): Promise<boolean> {
    const gone = await this.db.deleteFrom('users').where('name', '=', name).executeTakeFirst();
    return Number(gone.numDeletedRows) > 0;
  }
}

export class KyselyServerKeys implements ServerKeyRepository {
  constructor(private readonly db: Db) {}

  async get(
    name: string,
    generate: () => { privatePem: string; publicPem: string },
  ): Promise<{ privatePem: string; publicPem: string }> {
    const read = () =>
      this.db.selectFrom('server_keys').selectAll().where('name', '=', name).executeTakeFirst();
    let row = await read();
    if (!row) {
      const k = generate();
      await this.db
        .insertInto('server_keys')
        .values({ name, private_pem: k.privatePem, public_pem: k.publicPem })
        .onConflict((oc) => oc.column('name').doNothing())
        .execute();
      row = await read();
    }
    if (!row) throw new Error(`server key ${name} could not be stored`);
    return { privatePem: row.private_pem, publicPem: row.public_pem };
  }

  async replacePrivate(name: string, expected: string, privatePem: string): Promise<void> {
    await this.db
      .updateTable('server_keys')
      .set({ private_pem: privatePem })
      .where('name', '=', name)
      .where('private_pem', '=', expected)
      .execute();
  }
}
