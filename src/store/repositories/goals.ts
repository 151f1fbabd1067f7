/** Goal state: per host and service, the release to hold staged and the one to run. */
import { sql } from 'kysely';
import type { Db } from '../db.js';
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

  async change(
    service: string,
    changes: { hostId: string; stage?: number | null; active?: number | null }[],
  ): Promise<string[]> {
    const touched = new Set<string>();
    for (const c of changes) {
      const set: {
        stage_version?: number | null;
        active_version?: number | null;
        updated_at: Date;
      } = { updated_at: new Date() };
      if (c.stage !== undefined) set.stage_version = c.stage;
      if (c.active !== undefined) set.active_version = c.active;
      await this.db
        .insertInto('goals')
        .values({
          host_id: c.hostId,
          service,
          stage_version: c.stage ?? null,
          active_version: c.active ?? null,
        })
        .onConflict((oc) => oc.columns(['host_id', 'service']).doUpdateSet(set))
        .execute();
      touched.add(c.hostId);
    }
    if (touched.size > 0) {
      await this.db
        .updateTable('hosts')
        .set({ goal_generation: sql<number>`goal_generation + 1` })
        .where('id', 'in', [...touched])
        .execute();
    }
    return [...touched];
  }
}
