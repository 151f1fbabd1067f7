/** Applied service maps, each a new version; the newest is in force. */
import type { Db } from '../db.js';
import type { ServiceMapRepository } from '../repositories.js';
import { toServiceMap, type ServiceMapRow } from '../rows.js';

export class KyselyServiceMaps implements ServiceMapRepository {
  constructor(private readonly db: Db) {}

  async save(
    document: unknown,
    normalized: unknown,
  ): Promise<{ version: number; appliedAt: Date }> {
    const row = await this.db
      .insertInto('service_maps')
      .values({ document: JSON.stringify(document), normalized: JSON.stringify(normalized) })
      .returning(['version', 'applied_at'])
      .executeTakeFirstOrThrow();
    return { version: row.version, appliedAt: row.applied_at };
  }

  async current(): Promise<ServiceMapRow | undefined> {
    const row = await this.db
      .selectFrom('service_maps')
      .selectAll()
      .orderBy('version', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row && toServiceMap(row);
  }
}
