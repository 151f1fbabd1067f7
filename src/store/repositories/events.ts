/**
 * The outbox: events are inserted in the transaction of the change they describe, and whatever
 * reacts to them (event streams now, webhooks and metrics later) reads them back from here.
 */
import { sql } from 'kysely';
import type { Db } from '../db.js';
import type { EventRepository } from '../repositories.js';
import { toEvent, type EventRow, type NewEvent } from '../rows.js';

export class KyselyEvents implements EventRepository {
  constructor(private readonly db: Db) {}

  async add(events: NewEvent[]): Promise<EventRow[]> {
    if (events.length === 0) return [];
    const rows = await this.db
      .insertInto('events')
      .values(
        events.map((e) => ({
          deployment_id: e.deploymentId,
          type: e.type,
          actor: e.actor ?? null,
          data: JSON.stringify(e.data),
        })),
      )
      .returningAll()
      .execute();
    return rows.map(toEvent);
  }

  async after(afterId: number, deploymentId: string | null, limit = 1000): Promise<EventRow[]> {
    let q = this.db
      .selectFrom('events')
      .selectAll()
      .where(sql<boolean>`id > ${afterId}`)
      .orderBy('id')
      .limit(limit);
    if (deploymentId !== null) q = q.where('deployment_id', '=', deploymentId);
    return (await q.execute()).map(toEvent);
  }

  async lastId(): Promise<number> {
    const row = await this.db
      .selectFrom('events')
      .select((eb) => eb.fn.max('id').as('max'))
      .executeTakeFirst();
    return row?.max == null ? 0 : Number(row.max);
  }
}
