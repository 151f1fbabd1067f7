/**
 * The store over Kysely: one implementation of every repository for both engines (PGlite
 * embedded, PostgreSQL by URL), bound either to the database or to one transaction.
 */
import { sql } from 'kysely';
import type { Db } from './db.js';
import type { Channel, Leadership, Store } from './repositories.js';
import { KyselyChunks } from './repositories/chunks.js';
import { KyselyDeployments } from './repositories/deployments.js';
import { KyselyAudit } from './repositories/audit.js';
import { KyselyEvents } from './repositories/events.js';
import { KyselyGoals } from './repositories/goals.js';
import { KyselyHosts } from './repositories/hosts.js';
import { KyselyImages } from './repositories/images.js';
import { KyselyJobs } from './repositories/jobs.js';
import { KyselyReleases } from './repositories/releases.js';
import { KyselyServiceMaps } from './repositories/service-maps.js';
import { KyselyServerKeys, KyselyTokens, KyselyUsers } from './repositories/tokens.js';

/** PostgreSQL channel names: one namespace for Slipway on a shared database. */
export const CHANNELS: Record<Channel, string> = {
  events: 'slipway_events',
  goals: 'slipway_goals',
  tokens: 'slipway_tokens',
  jobs: 'slipway_jobs',
};

/** In-process listeners of each channel; the engine's LISTEN connection feeds it. */
export class Listeners {
  private readonly fns = new Map<Channel, Set<(payload: string) => void>>();
  private readonly missedFns = new Set<() => void>();

  add(channel: Channel, fn: (payload: string) => void): () => void {
    let set = this.fns.get(channel);
    if (!set) this.fns.set(channel, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  dispatch(channel: Channel, payload: string): void {
    for (const fn of this.fns.get(channel) ?? []) fn(payload);
  }

  onMissed(fn: () => void): () => void {
    this.missedFns.add(fn);
    return () => this.missedFns.delete(fn);
  }

  /** Tells everyone that announcements may have been lost (the LISTEN connection was). */
  missed(): void {
    for (const fn of this.missedFns) fn();
  }
}

export class KyselyStore implements Store {
  readonly tokens: KyselyTokens;
  readonly users: KyselyUsers;
  readonly audit: KyselyAudit;
  readonly keys: KyselyServerKeys;
  readonly hosts: KyselyHosts;
  readonly serviceMaps: KyselyServiceMaps;
  readonly chunks: KyselyChunks;
  readonly images: KyselyImages;
  readonly releases: KyselyReleases;
  readonly deployments: KyselyDeployments;
  readonly goals: KyselyGoals;
  readonly jobs: KyselyJobs;
  readonly events: KyselyEvents;

  constructor(
    private readonly db: Db,
    readonly engine: 'pglite' | 'postgres',
    private readonly listeners: Listeners,
    private readonly leaderships: (name: string) => Leadership,
    private readonly closer: () => Promise<void> = async () => {},
  ) {
    this.tokens = new KyselyTokens(db, (payload) => this.notify('tokens', payload));
    this.users = new KyselyUsers(db);
    this.audit = new KyselyAudit(db);
    this.keys = new KyselyServerKeys(db);
    this.hosts = new KyselyHosts(db);
    this.serviceMaps = new KyselyServiceMaps(db);
    this.chunks = new KyselyChunks(db);
    this.images = new KyselyImages(db);
    this.releases = new KyselyReleases(db);
    this.deployments = new KyselyDeployments(db);
    this.goals = new KyselyGoals(db);
    this.jobs = new KyselyJobs(db);
    this.events = new KyselyEvents(db);
  }

  async transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    if (this.db.isTransaction) return fn(this);
    return this.db
      .transaction()
      .execute((trx) => fn(new KyselyStore(trx, this.engine, this.listeners, this.leaderships)));
  }

  async notify(channel: Channel, payload: string): Promise<void> {
    await sql`select pg_notify(${CHANNELS[channel]}, ${payload})`.execute(this.db);
  }

  listen(channel: Channel, fn: (payload: string) => void): () => void {
    return this.listeners.add(channel, fn);
  }

  onMissed(fn: () => void): () => void {
    return this.listeners.onMissed(fn);
  }

  leadership(name: string): Leadership {
    return this.leaderships(name);
  }

  close(): Promise<void> {
    return this.closer();
  }
}
