/**
 * The control plane's persistent state, over Kysely. One implementation serves both engines
 * (PGlite embedded, PostgreSQL by URL); JSON read back is handed out as `unknown` for the
 * caller to validate at its boundary.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Deployment, HostInfo } from '../core/index.js';
import type { Database } from './schema.js';

export interface HostRow extends HostInfo {
  createdAt: Date;
  lastSeenAt: Date | null;
  report: unknown;
  bytesReceived: Record<string, number>;
  goalGeneration: number;
}

export interface ImageRow {
  id: string;
  service: string;
  size: number;
  files: number;
  chunks: number;
  createdAt: Date;
  tags: string[];
}

export interface ReleaseRow {
  service: string;
  version: number;
  imageId: string;
  environment: string;
  config: unknown;
  createdAt: Date;
}

export interface DeploymentRow {
  doc: unknown;
  imageId: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface GoalRow {
  hostId: string;
  service: string;
  stageVersion: number | null;
  activeVersion: number | null;
}

export interface EventRow {
  id: number;
  at: Date;
  deploymentId: string | null;
  type: string;
  data: unknown;
}

export interface NewEvent {
  deploymentId: string | null;
  type: string;
  data: Record<string, unknown>;
}

type Db = Kysely<Database> | Transaction<Database>;

const TERMINAL = ['succeeded', 'failed', 'rolled_back', 'cancelled'];

/** The store. Methods run in the transaction the instance is bound to, if any. */
export class Store {
  constructor(
    private readonly db: Db,
    /** Which engine is behind it, for logs. */
    readonly engine: 'pglite' | 'postgres',
    private readonly closer: () => Promise<void> = async () => {},
    private readonly live: LiveHostState = new LiveHostState(),
  ) {}

  /** Runs `fn` in one transaction (or in the current one, when already inside one). */
  async transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    if (this.db.isTransaction) return fn(this);
    return this.db
      .transaction()
      .execute((trx) => fn(new Store(trx, this.engine, undefined, this.live)));
  }

  /** Writes what agents reported since the last write, then closes the database. */
  async close(): Promise<void> {
    this.live.stop();
    await this.flushHostState();
    await this.closer();
  }

  /**
   * Writes the buffered reports and last-seen times in one transaction (see LiveHostState).
   * Runs on its own every second while reports arrive; tests call it to see them in the table.
   */
  async flushHostState(): Promise<void> {
    const pending = this.live.take();
    if (pending.size === 0) return;
    try {
      await this.transaction(async (tx) => {
        for (const [id, h] of pending) {
          await tx.db
            .updateTable('hosts')
            .set(
              h.report === undefined
                ? { last_seen_at: h.seenAt }
                : {
                    report: JSON.stringify(h.report),
                    bytes_received: JSON.stringify(h.bytesReceived),
                    last_seen_at: h.seenAt,
                  },
            )
            .where('id', '=', id)
            .execute();
        }
      });
    } catch (e) {
      this.live.putBack(pending);
      throw e;
    }
  }

  // ---- server keys ----

  /**
   * The named key pair, made by `generate` on first use. Concurrent first uses (replicas
   * starting together) agree on one: the first insert wins and everyone reads it back.
   */
  async serverKey(
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

  // ---- tokens ----

  async addToken(hash: string, kind: 'admin' | 'join' | 'agent', hostId?: string): Promise<void> {
    await this.db
      .insertInto('tokens')
      .values({ hash, kind, host_id: hostId ?? null })
      .execute();
  }

  async findToken(
    hash: string,
  ): Promise<{ kind: 'admin' | 'join' | 'agent'; hostId: string | null } | undefined> {
    const row = await this.db
      .selectFrom('tokens')
      .select(['kind', 'host_id'])
      .where('hash', '=', hash)
      .executeTakeFirst();
    return row && { kind: row.kind, hostId: row.host_id };
  }

  async hasTokens(kind: 'admin' | 'join'): Promise<boolean> {
    const row = await this.db
      .selectFrom('tokens')
      .select('hash')
      .where('kind', '=', kind)
      .executeTakeFirst();
    return row !== undefined;
  }

  async revokeHostTokens(hostId: string): Promise<void> {
    await this.db.deleteFrom('tokens').where('host_id', '=', hostId).execute();
  }

  // ---- hosts ----

  /** Registers a host, or updates the region and labels of a host of that name. */
  async upsertHost(h: HostInfo): Promise<HostRow> {
    await this.db
      .insertInto('hosts')
      .values({
        id: h.id,
        name: h.name,
        region: h.region,
        labels: JSON.stringify(h.labels),
        bytes_received: '{}',
      })
      .onConflict((oc) =>
        oc.column('name').doUpdateSet({ region: h.region, labels: JSON.stringify(h.labels) }),
      )
      .execute();
    const row = await this.hostByName(h.name);
    if (!row) throw new Error(`host ${h.name} vanished after upsert`);
    return row;
  }

  async hostByName(name: string): Promise<HostRow | undefined> {
    const row = await this.db
      .selectFrom('hosts')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
    return row && this.live.overlay(toHost(row));
  }

  async host(id: string): Promise<HostRow | undefined> {
    const row = await this.db
      .selectFrom('hosts')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && this.live.overlay(toHost(row));
  }

  async listHosts(): Promise<HostRow[]> {
    const rows = await this.db
      .selectFrom('hosts')
      .selectAll()
      .orderBy('region')
      .orderBy('name')
      .execute();
    return rows.map((r) => this.live.overlay(toHost(r)));
  }

  /** Records an agent's report; readers see it at once, the table within a second. */
  saveReport(
    hostId: string,
    report: unknown,
    bytesReceived: Record<string, number>,
    at: Date,
  ): Promise<void> {
    this.live.report(hostId, report, bytesReceived, at);
    this.flushSoon();
    return Promise.resolve();
  }

  /** Records that an agent was heard from; readers see it at once, the table within a second. */
  touchHost(hostId: string, at: Date): Promise<void> {
    this.live.touch(hostId, at);
    this.flushSoon();
    return Promise.resolve();
  }

  private flushSoon(): void {
    // A failed write keeps what it had; the next report schedules another try.
    this.live.schedule(() => void this.flushHostState().catch(() => {}));
  }

  // ---- service map ----

  async saveServiceMap(
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

  async currentServiceMap(): Promise<
    { version: number; appliedAt: Date; document: unknown; normalized: unknown } | undefined
  > {
    const row = await this.db
      .selectFrom('service_maps')
      .selectAll()
      .orderBy('version', 'desc')
      .limit(1)
      .executeTakeFirst();
    return (
      row && {
        version: row.version,
        appliedAt: row.applied_at,
        document: row.document,
        normalized: row.normalized,
      }
    );
  }

  // ---- chunks ----

  /** Which of `digests` the origin holds. */
  /**
   * Which of the digests the origin holds. With `touch`, those found count as new again, so
   * garbage collection (which spares chunks younger than its grace time) leaves them to the
   * image about to be registered that needs them.
   */
  async presentChunks(digests: string[], opts: { touch?: Date } = {}): Promise<Set<string>> {
    const present = new Set<string>();
    for (let i = 0; i < digests.length; i += 5000) {
      const part = digests.slice(i, i + 5000);
      if (part.length === 0) continue;
      const rows = opts.touch
        ? await this.db
            .updateTable('chunks')
            .set({ created_at: opts.touch })
            .where('digest', 'in', part)
            .returning('digest')
            .execute()
        : await this.db.selectFrom('chunks').select('digest').where('digest', 'in', part).execute();
      for (const r of rows) present.add(r.digest);
    }
    return present;
  }

  /** Chunks stored (or last asked about) before `before`. */
  async chunksOlderThan(before: Date): Promise<{ digest: string; size: number }[]> {
    return this.db
      .selectFrom('chunks')
      .select(['digest', 'size'])
      .where('created_at', '<', before)
      .execute();
  }

  async deleteChunks(digests: string[]): Promise<void> {
    for (let i = 0; i < digests.length; i += 5000) {
      const part = digests.slice(i, i + 5000);
      if (part.length > 0) await this.db.deleteFrom('chunks').where('digest', 'in', part).execute();
    }
  }

  /** Every registered image's manifest, as stored. */
  async imageManifests(): Promise<string[]> {
    const rows = await this.db.selectFrom('images').select('manifest').execute();
    return rows.map((r) => r.manifest);
  }

  async addChunk(digest: string, size: number): Promise<void> {
    await this.db
      .insertInto('chunks')
      .values({ digest, size })
      .onConflict((oc) => oc.column('digest').doUpdateSet({ created_at: new Date() }))
      .execute();
  }

  // ---- images ----

  async addImage(img: Omit<ImageRow, 'createdAt' | 'tags'>, manifest: string): Promise<void> {
    await this.db
      .insertInto('images')
      .values({ ...img, manifest })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
  }

  async image(id: string): Promise<ImageRow | undefined> {
    const row = await this.db
      .selectFrom('images')
      .select(['id', 'service', 'size', 'files', 'chunks', 'created_at'])
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) return undefined;
    return toImage(row, await this.tagsOf([id]));
  }

  async manifest(id: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('images')
      .select('manifest')
      .where('id', '=', id)
      .executeTakeFirst();
    return row?.manifest;
  }

  async listImages(service: string | undefined, limit: number): Promise<ImageRow[]> {
    let q = this.db
      .selectFrom('images')
      .select(['id', 'service', 'size', 'files', 'chunks', 'created_at'])
      .orderBy('created_at', 'desc')
      .limit(limit);
    if (service) q = q.where('service', '=', service);
    const rows = await q.execute();
    const tags = await this.tagsOf(rows.map((r) => r.id));
    return rows.map((r) => toImage(r, tags));
  }

  async setTag(service: string, tag: string, imageId: string): Promise<void> {
    await this.db
      .insertInto('tags')
      .values({ service, tag, image_id: imageId })
      .onConflict((oc) =>
        oc.columns(['service', 'tag']).doUpdateSet({ image_id: imageId, updated_at: new Date() }),
      )
      .execute();
  }

  async imageIdOfTag(service: string, tag: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('tags')
      .select('image_id')
      .where('service', '=', service)
      .where('tag', '=', tag)
      .executeTakeFirst();
    return row?.image_id;
  }

  private async tagsOf(ids: string[]): Promise<Map<string, string[]>> {
    const map = new Map<string, string[]>();
    if (ids.length === 0) return map;
    const rows = await this.db
      .selectFrom('tags')
      .select(['image_id', 'tag'])
      .where('image_id', 'in', ids)
      .orderBy('tag')
      .execute();
    for (const r of rows)
      (map.get(r.image_id) ?? map.set(r.image_id, []).get(r.image_id)!).push(r.tag);
    return map;
  }

  // ---- releases ----

  /** Creates the next release of a service (v1, v2…). Call inside a transaction. */
  async addRelease(r: Omit<ReleaseRow, 'version' | 'createdAt'>): Promise<ReleaseRow> {
    // Serialize numbering per service so two concurrent deploys cannot take the same number.
    await sql`select pg_advisory_xact_lock(hashtext(${'release:' + r.service}))`.execute(this.db);
    const max = await this.db
      .selectFrom('releases')
      .select((eb) => eb.fn.max('version').as('max'))
      .where('service', '=', r.service)
      .executeTakeFirst();
    const version = (max?.max ?? 0) + 1;
    const row = await this.db
      .insertInto('releases')
      .values({
        service: r.service,
        version,
        image_id: r.imageId,
        environment: r.environment,
        config: JSON.stringify(r.config),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toRelease(row);
  }

  async release(service: string, version: number): Promise<ReleaseRow | undefined> {
    const row = await this.db
      .selectFrom('releases')
      .selectAll()
      .where('service', '=', service)
      .where('version', '=', version)
      .executeTakeFirst();
    return row && toRelease(row);
  }

  async listReleases(service: string): Promise<ReleaseRow[]> {
    const rows = await this.db
      .selectFrom('releases')
      .selectAll()
      .where('service', '=', service)
      .orderBy('version', 'desc')
      .execute();
    return rows.map(toRelease);
  }

  // ---- deployments ----

  async addDeployment(d: Deployment, imageId: string): Promise<void> {
    await this.db
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
      .execute();
  }

  async updateDeployment(d: Deployment): Promise<void> {
    await this.db
      .updateTable('deployments')
      .set({ state: d.state, doc: JSON.stringify(d), updated_at: new Date() })
      .where('id', '=', d.id)
      .execute();
  }

  async deployment(id: string): Promise<DeploymentRow | undefined> {
    const row = await this.db
      .selectFrom('deployments')
      .select(['doc', 'image_id', 'created_at', 'updated_at'])
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toDeployment(row);
  }

  /** Locks a deployment row for the rest of the transaction, then reads it. */
  async deploymentForUpdate(id: string): Promise<DeploymentRow | undefined> {
    const row = await this.db
      .selectFrom('deployments')
      .select(['doc', 'image_id', 'created_at', 'updated_at'])
      .where('id', '=', id)
      .forUpdate()
      .executeTakeFirst();
    return row && toDeployment(row);
  }

  async listDeployments(service: string | undefined, limit: number): Promise<DeploymentRow[]> {
    let q = this.db
      .selectFrom('deployments')
      .select(['doc', 'image_id', 'created_at', 'updated_at'])
      .orderBy('created_at', 'desc')
      .limit(limit);
    if (service) q = q.where('service', '=', service);
    return (await q.execute()).map(toDeployment);
  }

  /** Ids of deployments still running, oldest first. */
  async runningDeploymentIds(): Promise<string[]> {
    const rows = await this.db
      .selectFrom('deployments')
      .select('id')
      .where('state', 'not in', TERMINAL)
      .orderBy('created_at')
      .execute();
    return rows.map((r) => r.id);
  }

  async runningDeploymentFor(service: string, environment: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('deployments')
      .select('id')
      .where('service', '=', service)
      .where('environment', '=', environment)
      .where('state', 'not in', TERMINAL)
      .executeTakeFirst();
    return row?.id;
  }

  /** The last deployment of a service to an environment that succeeded. */
  async lastSucceeded(service: string, environment: string): Promise<DeploymentRow | undefined> {
    const row = await this.db
      .selectFrom('deployments')
      .select(['doc', 'image_id', 'created_at', 'updated_at'])
      .where('service', '=', service)
      .where('environment', '=', environment)
      .where('state', '=', 'succeeded')
      .orderBy('created_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row && toDeployment(row);
  }

  // ---- goals ----

  async goalsOfHost(hostId: string): Promise<GoalRow[]> {
    const rows = await this.db
      .selectFrom('goals')
      .selectAll()
      .where('host_id', '=', hostId)
      .orderBy('service')
      .execute();
    return rows.map(toGoal);
  }

  async goalsOfService(service: string): Promise<GoalRow[]> {
    const rows = await this.db
      .selectFrom('goals')
      .selectAll()
      .where('service', '=', service)
      .execute();
    return rows.map(toGoal);
  }

  /** Changes goals (absent fields kept) and bumps each touched host's goal generation. */
  async changeGoals(
    service: string,
    changes: { hostId: string; stage?: number | null; active?: number | null }[],
  ): Promise<string[]> {
    const touched = new Set<string>();
    for (const c of changes) {
      const set: {
        stage_version?: number | null;
        active_version?: number | null;
        updated_at: Date;
      } = {
        updated_at: new Date(),
      };
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

  // ---- events ----

  async addEvents(events: NewEvent[]): Promise<EventRow[]> {
    if (events.length === 0) return [];
    const rows = await this.db
      .insertInto('events')
      .values(
        events.map((e) => ({
          deployment_id: e.deploymentId,
          type: e.type,
          data: JSON.stringify(e.data),
        })),
      )
      .returningAll()
      .execute();
    return rows.map(toEvent);
  }

  async eventsAfter(
    afterId: number,
    deploymentId: string | null,
    limit = 1000,
  ): Promise<EventRow[]> {
    let q = this.db
      .selectFrom('events')
      .selectAll()
      .where(sql<boolean>`id > ${afterId}`)
      .orderBy('id')
      .limit(limit);
    if (deploymentId !== null) q = q.where('deployment_id', '=', deploymentId);
    return (await q.execute()).map(toEvent);
  }

  async lastEventId(): Promise<number> {
    const row = await this.db
      .selectFrom('events')
      .select((eb) => eb.fn.max('id').as('max'))
      .executeTakeFirst();
    return row?.max == null ? 0 : Number(row.max);
  }
}

interface PendingHostState {
  /** Undefined when only the last-seen time changed. */
  report?: unknown;
  bytesReceived?: Record<string, number>;
  seenAt: Date;
}

/**
 * Agents' latest reports and last-seen times, held in memory and written in batches. Every agent
 * reports at least every few seconds and once a second while it fetches; a write per report
 * would keep an embedded database busy with little else at a few dozen hosts, and the rows
 * would churn. A report is an observation the agent repeats, so losing the last second of them
 * in a crash loses nothing: the next heartbeat brings it back.
 */
export class LiveHostState {
  private pending = new Map<string, PendingHostState>();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  report(id: string, report: unknown, bytesReceived: Record<string, number>, seenAt: Date): void {
    this.pending.set(id, { report, bytesReceived, seenAt });
  }

  touch(id: string, seenAt: Date): void {
    const p = this.pending.get(id);
    this.pending.set(id, p ? { ...p, seenAt } : { seenAt });
  }

  /** The row as the agents last described it. */
  overlay(h: HostRow): HostRow {
    const p = this.pending.get(h.id);
    if (!p) return h;
    return p.report === undefined
      ? { ...h, lastSeenAt: p.seenAt }
      : { ...h, report: p.report, bytesReceived: p.bytesReceived ?? {}, lastSeenAt: p.seenAt };
  }

  schedule(flush: () => void): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      flush();
    }, HOST_STATE_FLUSH_MS);
    this.timer.unref();
  }

  /** Everything pending, which is forgotten until put back. */
  take(): Map<string, PendingHostState> {
    const taken = this.pending;
    this.pending = new Map();
    return taken;
  }

  /** Puts back what a failed write took, unless newer state arrived meanwhile. */
  putBack(taken: Map<string, PendingHostState>): void {
    for (const [id, p] of taken) if (!this.pending.has(id)) this.pending.set(id, p);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

const HOST_STATE_FLUSH_MS = 1_000;

function toHost(r: {
  id: string;
  name: string;
  region: string;
  labels: unknown;
  created_at: Date;
  last_seen_at: Date | null;
  report: unknown;
  bytes_received: unknown;
  goal_generation: string | number;
}): HostRow {
  return {
    id: r.id,
    name: r.name,
    region: r.region,
    labels: r.labels as Record<string, string>,
    createdAt: r.created_at,
    lastSeenAt: r.last_seen_at,
    report: r.report,
    bytesReceived: r.bytes_received as Record<string, number>,
    goalGeneration: Number(r.goal_generation),
  };
}

function toImage(
  r: {
    id: string;
    service: string;
    size: string | number;
    files: number;
    chunks: number;
    created_at: Date;
  },
  tags: Map<string, string[]>,
): ImageRow {
  return {
    id: r.id,
    service: r.service,
    size: Number(r.size),
    files: r.files,
    chunks: r.chunks,
    createdAt: r.created_at,
    tags: tags.get(r.id) ?? [],
  };
}

function toRelease(r: {
  service: string;
  version: number;
  image_id: string;
  environment: string;
  config: unknown;
  created_at: Date;
}): ReleaseRow {
  return {
    service: r.service,
    version: r.version,
    imageId: r.image_id,
    environment: r.environment,
    config: r.config,
    createdAt: r.created_at,
  };
}

function toDeployment(r: {
  doc: unknown;
  image_id: string;
  created_at: Date;
  updated_at: Date;
}): DeploymentRow {
  return { doc: r.doc, imageId: r.image_id, createdAt: r.created_at, updatedAt: r.updated_at };
}

function toGoal(r: {
  host_id: string;
  service: string;
  stage_version: number | null;
  active_version: number | null;
}): GoalRow {
  return {
    hostId: r.host_id,
    service: r.service,
    stageVersion: r.stage_version,
    activeVersion: r.active_version,
  };
}

function toEvent(r: {
  id: string | number;
  at: Date;
  deployment_id: string | null;
  type: string;
  data: unknown;
}): EventRow {
  return { id: Number(r.id), at: r.at, deploymentId: r.deployment_id, type: r.type, data: r.data };
}
