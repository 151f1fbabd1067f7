/** API tokens (hashes only) and the control plane's own key pairs. */
import type { Db } from '../db.js';
import type { ServerKeyRepository, TokenKind, TokenRepository } from '../repositories.js';
import { revokedPayload } from '../revoked-tokens.js';

export class KyselyTokens implements TokenRepository {
  constructor(
    private readonly db: Db,
    /** Announces on the `tokens` channel (with the transaction, when in one). */
    private readonly announce: (payload: string) => Promise<void>,
  ) {}

  async add(hash: string, kind: TokenKind, hostId?: string): Promise<void> {
    await this.db
      .insertInto('tokens')
      .values({ hash, kind, host_id: hostId ?? null })
      .execute();
  }

  async find(hash: string): Promise<{ kind: TokenKind; hostId: string | null } | undefined> {
    const row = await this.db
      .selectFrom('tokens')
      .select(['kind', 'host_id'])
      .where('hash', '=', hash)
      .executeTakeFirst();
    return row && { kind: row.kind, hostId: row.host_id };
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
