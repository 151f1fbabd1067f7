/**
 * Deployments: the persisted state machine document, indexed by service, environment, state,
 * and its hosts in rows of their own (`deployment_hosts`), written when they move.
 */
import { TERMINAL_STATES, type Deployment, type DeploymentHost } from '../../core/index.js';
import { sql } from 'kysely';
import { byId, inBatches, likePrefix, type Db } from '../db.js';
import type { DeploymentRepository } from '../repositories.js';
import { toDeployment, type DeploymentHostRecord, type DeploymentRow } from '../rows.js';

const COLUMNS = ['id', 'doc', 'image_id', 'created_at', 'updated_at'] as const;

const HOST_COLUMNS = [
  'deployment_id',
  'host_id',
  'host_name',
  'region',
  'batch',
  'previous',
  'state',
  'detail',
] as const;

/** The document as stored: everything but the hosts. */
function docOf(d: Deployment): string {
  const { hosts: _hosts, ...head } = d;
  return JSON.stringify(head);
}

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
        doc: docOf(d),
      })
      .returning(['created_at', 'updated_at'])
      .executeTakeFirstOrThrow();
    const ords = d.hosts.map((_, i) => i);
    for (const batch of inBatches(ords)) {
      const hosts = batch.map((i) => d.hosts[i]!);
      await this.db
        .insertInto('deployment_hosts')
        .columns([...HOST_COLUMNS, 'ord'])
        .expression(
          sql`select ${d.id}::text, v.host_id, v.host_name, v.region, v.batch, v.previous,
                v.state, v.detail, v.ord
              from unnest(${hosts.map((h) => h.hostId)}::text[],
                          ${hosts.map((h) => h.hostName)}::text[],
                          ${hosts.map((h) => h.region)}::text[],
                          ${hosts.map((h) => h.batch)}::integer[],
                          ${hosts.map((h) => h.previous)}::integer[],
                          ${hosts.map((h) => h.state)}::text[],
                          ${hosts.map((h) => h.detail)}::text[],
                          ${batch}::integer[])
                as v (host_id, host_name, region, batch, previous, state, detail, ord)`,
        )
        .execute();
    }
    return { deployment: d, imageId, createdAt: row.created_at, updatedAt: row.updated_at };
  }

  async update(d: Deployment, moved: readonly DeploymentHost[] = []): Promise<Date> {
    const at = new Date();
    await this.db
      .updateTable('deployments')
      .set({ state: d.state, doc: docOf(d), updated_at: at })
      .where('id', '=', d.id)
      .execute();
    // In host id order, so that two writers of one deployment's rows lock them in one order.
    for (const batch of inBatches([...moved].sort((a, b) => byId(a.hostId, b.hostId)))) {
      await sql`
        update deployment_hosts as t
          set state = v.state, detail = v.detail, previous = v.previous
        from unnest(${batch.map((h) => h.hostId)}::text[],
                    ${batch.map((h) => h.state)}::text[],
                    ${batch.map((h) => h.detail)}::text[],
                    ${batch.map((h) => h.previous)}::integer[])
          as v (host_id, state, detail, previous)
        where t.deployment_id = ${d.id} and t.host_id = v.host_id`.execute(this.db);
    }
    return at;
  }

  /** The rows' hosts, each deployment's in the order it was planned. */
  private async withHosts(
    rows: readonly {
      id: string;
      doc: unknown;
      image_id: string;
      created_at: Date;
      updated_at: Date;
    }[],
  ): Promise<DeploymentRow[]> {
    if (rows.length === 0) return [];
    const hosts = await this.db
      .selectFrom('deployment_hosts')
      .select([...HOST_COLUMNS])
      .where(
        'deployment_id',
        'in',
        rows.map((r) => r.id),
      )
      .orderBy('deployment_id')
      .orderBy('ord')
      .execute();
    const byDeployment = new Map<string, DeploymentHostRecord[]>();
    for (const h of hosts) {
      const list = byDeployment.get(h.deployment_id);
      if (list) list.push(h);
      else byDeployment.set(h.deployment_id, [h]);
    }
    return rows.map((r) => toDeployment(r, byDeployment.get(r.id) ?? []));
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
    return row && (await this.withHosts([row]))[0];
  }

  async getForUpdate(id: string): Promise<DeploymentRow | undefined> {
    const row = await this.db
      .selectFrom('deployments')
      .select(COLUMNS)
      .where('id', '=', id)
      .forUpdate()
      .executeTakeFirst();
    return row && (await this.withHosts([row]))[0];
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
    return this.withHosts(await q.execute());
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

  async underWay(service: string, environment: string): Promise<{ id: string; state: string }[]> {
    return this.db
      .selectFrom('deployments')
      .select(['id', 'state'])
      .where('service', '=', service)
      .where('environment', '=', environment)
      .where('state', 'not in', TERMINAL_STATES)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
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

  async hasSucceeded(service: string, environment: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('deployments')
      .select('id')
      .where('service', '=', service)
      .where('environment', '=', environment)
      .where('state', '=', 'succeeded')
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }
}
