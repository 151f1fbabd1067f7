/** Goal state: per host and service, the release to hold staged and the one to run. */
import { sql } from 'kysely';
import { byId, dbNow, inBatches, type Db } from '../db.js';
import type { GoalRepository } from '../repositories.js';
import { toGoal, type GoalRow } from '../rows.js';

export class KyselyGoals implements GoalRepository {
  constructor(private readonly db: Db) {}

  async ofHost(hostId: string): Promise<GoalRow[]> {
    const rows = await this.db
      .selectFrom('goals')
      .selectAll()
      .where('host_id', '=', hostId)
      .orderBy('service')
      .execute();
    return rows.map(toGoal);
  }

  async ofService(service: string): Promise<GoalRow[]> {
    const rows = await this.db
      .selectFrom('goals')
      .selectAll()
      .where('service', '=', service)
      .execute();
    return rows.map(toGoal);
  }

  async ofHosts(hostIds: readonly string[]): Promise<GoalRow[]> {
    if (hostIds.length === 0) return [];
    const rows = await this.db
      .selectFrom('goals')
      .selectAll()
      .where('host_id', 'in', [...hostIds])
      .execute();
    return rows.map(toGoal);
  }

  /**
   * One multi-row upsert per batch of hosts whose changes name the same fields: on conflict, the
   * fields a change leaves out keep their stored values, so each set of named fields has its own
   * statement. Then one UPDATE per batch bumps the generations (not the rows' `changed_at`: a
   * fleet-wide change would have every server read every row again; the announcement's reader
   * reads the generations). Hosts in id order, so concurrent writers of the same rows take their
   * locks in one order.
   */
  async change(
    service: string,
    changes: { hostId: string; stage?: number | null; active?: number | null }[],
  ): Promise<string[]> {
    // A host named twice: both changes applied in turn are the later one's fields over the
    // earlier one's (a multi-row upsert may not touch one row twice).
    const merged = new Map<string, { stage?: number | null; active?: number | null }>();
    for (const c of changes) {
      const m = merged.get(c.hostId) ?? {};
      if (c.stage !== undefined) m.stage = c.stage;
      if (c.active !== undefined) m.active = c.active;
      merged.set(c.hostId, m);
    }
    const touched = [...merged.keys()];
    const byFields = new Map<
      string,
      [string, { stage?: number | null; active?: number | null }][]
    >();
    for (const entry of [...merged].sort(([a], [b]) => byId(a, b))) {
      const key = `${entry[1].stage !== undefined}/${entry[1].active !== undefined}`;
      const group = byFields.get(key);
      if (group) group.push(entry);
      else byFields.set(key, [entry]);
    }
    for (const group of byFields.values()) {
      const setsStage = group[0]![1].stage !== undefined;
      const setsActive = group[0]![1].active !== undefined;
      for (const batch of inBatches(group)) {
        const ids = batch.map(([id]) => id);
        const stages = batch.map(([, c]) => c.stage ?? null);
        const actives = batch.map(([, c]) => c.active ?? null);
        await this.db
          .insertInto('goals')
          .columns(['host_id', 'service', 'stage_version', 'active_version'])
          .expression(
            sql`select v.host_id, ${service}::text, v.stage, v.active
              from unnest(${ids}::text[], ${stages}::integer[], ${actives}::integer[])
                as v (host_id, stage, active)`,
          )
          .onConflict((oc) =>
            oc.columns(['host_id', 'service']).doUpdateSet((eb) => ({
              ...(setsStage && { stage_version: eb.ref('excluded.stage_version') }),
              ...(setsActive && { active_version: eb.ref('excluded.active_version') }),
              updated_at: dbNow,
            })),
          )
          .execute();
      }
    }
    for (const batch of inBatches([...touched].sort(byId))) {
      await this.db
        .updateTable('hosts')
        .set({ goal_generation: sql<number>`goal_generation + 1` })
        .where(sql<boolean>`id = any(${batch}::text[])`)
        .execute();
    }
    return touched;
  }
}
