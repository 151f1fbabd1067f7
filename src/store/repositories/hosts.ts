/** Registered hosts: name, region, labels, and what they last reported. */
import { sql } from 'kysely';
import type { HostInfo } from '../../core/index.js';
import { byId, dbNow, inBatches, type Db } from '../db.js';
import type { HostRepository } from '../repositories.js';
import { toGoal, toHost, type HostGoals, type HostRow } from '../rows.js';

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
    await this.db
      .updateTable('hosts')
      .set({ relay, changed_at: dbNow })
      .where('id', '=', id)
      .execute();
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

  async byIds(ids: readonly string[]): Promise<HostRow[]> {
    const rows: HostRow[] = [];
    for (const part of inBatches(ids)) {
      if (part.length === 0) continue;
      const got = await this.db.selectFrom('hosts').selectAll().where('id', 'in', part).execute();
      rows.push(...got.map(toHost));
    }
    return rows;
  }

  async goalStates(ids: readonly string[] | 'all'): Promise<HostGoals[]> {
    const q = this.db
      .selectFrom('hosts as h')
      .leftJoin('goals as g', 'g.host_id', 'h.id')
      .select(['h.id', 'h.goal_generation', 'g.service', 'g.stage_version', 'g.active_version'])
      .orderBy('h.id')
      .orderBy('g.service');
    const rows = ids === 'all' ? await q.execute() : [];
    if (ids !== 'all')
      for (const part of inBatches(ids))
        rows.push(...(await q.where(sql<boolean>`h.id = any(${part}::text[])`).execute()));
    const states: HostGoals[] = [];
    for (const r of rows) {
      let last = states.at(-1);
      if (last?.id !== r.id) {
        last = { id: r.id, goalGeneration: Number(r.goal_generation), goals: [] };
        states.push(last);
      }
      if (r.service !== null) last.goals.push(toGoal({ ...r, host_id: r.id, service: r.service }));
    }
    return states;
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

  /**
   * The database's clock is read first, the rows after: a row written meanwhile is returned now
   * and again next time, never missed. `now` is cut to milliseconds (a Date holds no more),
   * downwards, for the same reason.
   */
  async changedSince(since: Date): Promise<{ hosts: HostRow[]; now: Date }> {
    const clock = await sql<{ now: Date }>`select date_trunc('milliseconds', now()) as now`.execute(
      this.db,
    );
    const rows = await this.db
      .selectFrom('hosts')
      .selectAll()
      .where('changed_at', '>=', since)
      .orderBy('changed_at')
      .execute();
    return { hosts: rows.map(toHost), now: clock.rows[0]!.now };
  }

  /**
   * One UPDATE per batch of hosts, their values passed as one array per column. A host without
   * a report has SQL null in the report and bytes columns, which keeps the stored ones (a report
   * is never SQL null: even JSON `null` is a jsonb value). Hosts in id order, so concurrent
   * writers of the same rows take their locks in one order.
   */
  async saveLiveState(
    states: ReadonlyMap<
      string,
      { report?: unknown; bytesReceived?: Record<string, number>; seenAt: Date }
    >,
  ): Promise<void> {
    const sorted = [...states].sort(([a], [b]) => byId(a, b));
    for (const batch of inBatches(sorted)) {
      const ids = batch.map(([id]) => id);
      const seenAt = batch.map(([, h]) => h.seenAt);
      const reports = batch.map(([, h]) =>
        h.report === undefined ? null : JSON.stringify(h.report),
      );
      const bytes = batch.map(([, h]) =>
        h.report === undefined ? null : JSON.stringify(h.bytesReceived ?? {}),
      );
      await sql`
        update hosts set
          last_seen_at = v.seen_at,
          report = coalesce(v.report, hosts.report),
          bytes_received = coalesce(v.bytes_received, hosts.bytes_received),
          changed_at = ${dbNow}
        from unnest(
          ${ids}::text[], ${seenAt}::timestamptz[], ${reports}::jsonb[], ${bytes}::jsonb[]
        ) as v (id, seen_at, report, bytes_received)
        where hosts.id = v.id
      `.execute(this.db);
    }
  }
}
