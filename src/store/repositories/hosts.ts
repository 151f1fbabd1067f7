/** Registered hosts: name, region, labels, and what they last reported. */
import type { HostInfo } from '../../core/index.js';
import type { Db } from '../db.js';
import type { HostRepository } from '../repositories.js';
import { toHost, type HostRow } from '../rows.js';

export class KyselyHosts implements HostRepository {
  constructor(private readonly db: Db) {}

  async add(h: HostInfo & { relay?: boolean }): Promise<HostRow | undefined> {
    const inserted = await this.db
      .insertInto('hosts')
      .values({
        id: h.id,
        name: h.name,
        region: h.region,
        labels: JSON.stringify(h.labels),
        bytes_received: '{}',
        relay: h.relay ?? false,
      })
      .onConflict((oc) => oc.column('name').doNothing())
      .returning('id')
      .executeTakeFirst();
    return inserted ? this.byId(inserted.id) : undefined;
  }

  async remove(id: string): Promise<boolean> {
    await this.db.deleteFrom('goals').where('host_id', '=', id).execute();
    const r = await this.db.deleteFrom('hosts').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async setRelay(id: string, relay: boolean): Promise<void> {
    await this.db.updateTable('hosts').set({ relay }).where('id', '=', id).execute();
  }

  async byName(name: string): Promise<HostRow | undefined> {
    const row = await this.db
      .selectFrom('hosts')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
    return row && toHost(row);
  }

  async byId(id: string): Promise<HostRow | undefined> {
    const row = await this.db
      .selectFrom('hosts')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toHost(row);
  }

  async list(): Promise<HostRow[]> {
    const rows = await this.db
      .selectFrom('hosts')
      .selectAll()
      .orderBy('region')
      .orderBy('name')
      .execute();
    return rows.map(toHost);
  }

  // TEMPORARY stand-in until the changed_at column lands: reads everything.
  async changedSince(_since: Date): Promise<{ hosts: HostRow[]; now: Date }> {
    return { hosts: await this.list(), now: new Date() };
  }

  async saveLiveState(
    states: ReadonlyMap<
      string,
      { report?: unknown; bytesReceived?: Record<string, number>; seenAt: Date }
    >,
  ): Promise<void> {
    for (const [id, h] of states) {
      await this.db
        .updateTable('hosts')
        .set(
          h.report === undefined
            ? { last_seen_at: h.seenAt }
            : {
                report: JSON.stringify(h.report),
                bytes_received: JSON.stringify(h.bytesReceived ?? {}),
                last_seen_at: h.seenAt,
              },
        )
        .where('id', '=', id)
        .execute();
    }
  }
}
