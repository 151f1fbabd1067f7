/** Releases: numbered per service (v1, v2…), immutable once made. */
import { sql } from 'kysely';
import type { Db } from '../db.js';
import type { ReleaseRepository } from '../repositories.js';
import { toRelease, type ReleaseRow } from '../rows.js';

export class KyselyReleases implements ReleaseRepository {
  constructor(private readonly db: Db) {}

  async add(
    r: Omit<ReleaseRow, 'version' | 'createdAt' | 'config'> & { config: unknown },
  ): Promise<ReleaseRow> {
    // Serialize numbering per service so two concurrent deploys cannot take the same number.
    await sql`select pg_advisory_xact_lock(hashtext(${'release:' + r.service}))`.execute(this.db);
    const max = await this.db
      .selectFrom('releases')
      .select((eb) => eb.fn.max('version').as('max'))
      .where('service', '=', r.service)
      .executeTakeFirst();
    const row = await this.db
      .insertInto('releases')
      .values({
        service: r.service,
        version: (max?.max ?? 0) + 1,
        image_id: r.imageId,
        environment: r.environment,
        config: JSON.stringify(r.config),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toRelease(row);
  }

  async get(service: string, version: number): Promise<ReleaseRow | undefined> {
    const row = await this.db
      .selectFrom('releases')
      .selectAll()
      .where('service', '=', service)
      .where('version', '=', version)
      .executeTakeFirst();
    return row && toRelease(row);
  }

  async list(service: string): Promise<ReleaseRow[]> {
    const rows = await this.db
      .selectFrom('releases')
      .selectAll()
      .where('service', '=', service)
      .orderBy('version', 'desc')
      .execute();
    return rows.map(toRelease);
  }
}
