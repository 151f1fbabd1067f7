/** Deployments: the persisted state machine document, indexed by service, environment, state. */
import { TERMINAL_STATES, type Deployment } from '../../core/index.js';
import { sql } from 'kysely';
import { likePrefix, type Db } from '../db.js';
import type { DeploymentRepository } from '../repositories.js';
import { toDeployment, type DeploymentRow } from '../rows.js';

const COLUMNS = ['id', 'doc', 'image_id', 'created_at', 'updated_at'] as const;

export class KyselyDeployments implements DeploymentRepository {
  constructor(private readonly db: Db) {}

  async add(d: Deployment, imageId: string): Promise<DeploymentRow> {
    const row = await this.db
      .insertInto('deployments')
      .values({
        id: d.id,
        service: d.service,
        environment: d.environment,
        state: d.state,
        release: d.release,
        image_id: imageId,
        doc: JSON.stringify(d),
      })
      .returning(['created_at', 'updated_at'])
      .executeTakeFirstOrThrow();
    return { deployment: d, imageId, createdAt: row.created_at, updatedAt: row.updated_at };
  }

  async update(d: Deployment): Promise<Date> {
    const at = new Date();
    await this.db
      .updateTable('deployments')
      .set({ state: d.state, doc: JSON.stringify(d), updated_at: at })
      .where('id', '=', d.id)
      .execute();
    return at;
  }

  async headForUpdate(
    id: string,
  ): Promise<{ updatedAt: Date; cancelRequested: boolean } | undefined> {
    const row = await this.db
      .selectFrom('deployments')
      .select(['updated_at', sql<boolean>`(doc->>'cancelRequested')::boolean`.as('cancel')])
      .where('id', '=', id)
      .forUpdate()
      .executeTakeFirst();
    return row && { updatedAt: row.updated_at, cancelRequested: row.cancel === true };
  }

  async get(id: string): Promise<DeploymentRow | undefined> {
    const row = await this.db
      .selectFrom('deployments')
      .select(COLUMNS)
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toDeployment(row);
  }

  async getForUpdate(id: string): Promise<DeploymentRow | undefined> {
    const row = await this.db
      .selectFrom('deployments')
      .select(COLUMNS)
      .where('id', '=', id)
      .forUpdate()
      .executeTakeFirst();
    return row && toDeployment(row);
  }

  async list(
    filter: { service?: string; environment?: string },
    limit: number,
  ): Promise<DeploymentRow[]> {
    let q = this.db
      .selectFrom('deployments')
      .select(COLUMNS)
      .orderBy('created_at', 'desc')
      .limit(limit);
    if (filter.service) q = q.where('service', '=', filter.service);
    if (filter.environment) q = q.where('environment', '=', filter.environment);
    return (await q.execute()).map(toDeployment);
  }

  async idsWithPrefix(prefix: string, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('deployments')
      .select('id')
      .where('id', 'like', likePrefix(prefix))
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map((r) => r.id);
  }

  async runningIds(): Promise<string[]> {
    const rows = await this.db
      .selectFrom('deployments')
      .select('id')
      .where('state', 'not in', TERMINAL_STATES)
      .orderBy('created_at')
      .execute();
    return rows.map((r) => r.id);
  }

  async runningFor(service: string, environment: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('deployments')
      .select('id')
      .where('service', '=', service)
      .where('environment', '=', environment)
      .where('state', 'not in', TERMINAL_STATES)
      .executeTakeFirst();
    return row?.id;
  }

  async succeededReleases(
    service: string,
    environment: string,
    limit: number,
  ): Promise<{ version: number; imageId: string }[]> {
    const rows = await this.db
      .selectFrom('deployments')
      .select(['release', 'image_id'])
      .where('service', '=', service)
      .where('environment', '=', environment)
      .where('state', '=', 'succeeded')
      .where(sql<boolean>`doc->>'kind' <> 'stage'`)
      .orderBy('created_at', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ version: r.release, imageId: r.image_id }));
  }

  async lastSucceeded(service: string, environment: string): Promise<DeploymentRow | undefined> {
    const row = await this.db
      .selectFrom('deployments')
      .select(COLUMNS)
      .where('service', '=', service)
      .where('environment', '=', environment)
      .where('state', '=', 'succeeded')
      .orderBy('created_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row && toDeployment(row);
  }
}
