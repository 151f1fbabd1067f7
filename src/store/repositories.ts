/**
 * The store's contract: one small repository per kind of record. The server's application layer
 * sees only these interfaces; `open.ts` builds them over Kysely for PGlite or PostgreSQL, and
 * `test/store.test.ts` runs one suite over both engines.
 */
import type { Deployment, DeploymentHost, Grant, HostInfo, JobRunState } from '../core/index.js';
import type {
  DeploymentRow,
  EventRow,
  GoalRow,
  HostGoals,
  HostRow,
  ImageRow,
  NewEvent,
  ReleaseRow,
  ServiceMapRow,
} from './rows.js';
import type { AuditEntry, AuditVerdict, NewAuditEntry } from './audit-chain.js';
import type { JobLineRow, JobRow, JobSpec, OpenJobRun } from './job-rows.js';

export type TokenKind = 'admin' | 'join' | 'agent' | 'user';

/** A person's or a machine account's token as it is listed: never its secret. */
export interface UserTokenRow {
  /** Public id: what lists show and revocation takes (`admin` for the first-start token). */
  id: string;
  user: string;
  grant: Grant;
  createdAt: Date;
  /** null: never expires. */
  expiresAt: Date | null;
}

/** What a token's hash stands for. */
export interface FoundToken {
  kind: TokenKind;
  /** The host an agent token belongs to. */
  hostId: string | null;
  /** An admin or user token's id, user and grant. */
  id: string | null;
  user: string | null;
  grant: Grant | null;
  expiresAt: Date | null;
}

export interface TokenRepository {
  /** A first-start (admin, join) or agent token. */
  add(hash: string, kind: 'admin' | 'join' | 'agent', hostId?: string): Promise<void>;
  /** A user's token carrying one grant. */
  addForUser(
    hash: string,
    t: { id: string; user: string; grant: Grant; expiresAt: Date | null },
  ): Promise<UserTokenRow>;
  find(hash: string): Promise<FoundToken | undefined>;
  exists(kind: 'admin' | 'join'): Promise<boolean>;
  /** Users' tokens (the first-start admin token among them), by user, oldest first. */
  listOfUsers(): Promise<UserTokenRow[]>;
  /** Deletes a user's token by id and announces it (as `revokeOfHost`); false if none. */
  revoke(id: string): Promise<boolean>;
  /** Deletes every token of the user and announces them. */
  revokeOfUser(user: string): Promise<void>;
  /**
   * Deletes the host's tokens and announces them on `tokens` (`revoked-tokens.ts`), with the
   * transaction, so that every server process stops accepting them from its cache. Every
   * deletion of tokens goes through here, or announces the same way.
   */
  revokeOfHost(hostId: string): Promise<void>;
}

export interface AuditQuery {
  /** Entries after this seq (paging). */
  afterSeq?: number;
  since?: Date;
  /** `user:<name>`, … */
  actor?: string;
  environment?: string;
  limit: number;
}

/** The append-only, hash-chained audit trail (`audit-chain.ts`). */
export interface AuditRepository {
  /** Appends entries in order, chained to the last; call it within a transaction. */
  append(entries: readonly NewAuditEntry[]): Promise<void>;
  /** Entries in order of seq. */
  list(q: AuditQuery): Promise<AuditEntry[]>;
  head(): Promise<{ seq: number; hash: string }>;
  /** Walks the whole chain and names the first entry that does not hold. */
  verify(): Promise<AuditVerdict>;
}

export type UserKind = 'person' | 'machine';

export interface UserRow {
  name: string;
  kind: UserKind;
  createdAt: Date;
}

/** People and machine accounts (CI pipelines): who API tokens belong to. */
export interface UserRepository {
  add(name: string, kind: UserKind): Promise<UserRow>;
  get(name: string): Promise<UserRow | undefined>;
  list(): Promise<UserRow[]>;
  /** Deletes the user (its tokens must be gone: `tokens.revokeOfUser`). */
  remove(name: string): Promise<boolean>;
}

export interface ServerKeyRepository {
  /**
   * The named key pair, made by `generate` on first use. Concurrent first uses (replicas
   * starting together) agree on one: the first insert wins and everyone reads it back.
   */
  get(
    name: string,
    generate: () => { privatePem: string; publicPem: string },
  ): Promise<{ privatePem: string; publicPem: string }>;
  /** Replaces the stored private half when it still is `expected` (sealing a clear one). */
  replacePrivate(name: string, expected: string, privatePem: string): Promise<void>;
}

export interface HostRepository {
  /**
   * Registers a new host; undefined when a host of that name exists (it is left as it is: a
   * name is taken over only after the operator removed the host).
   */
  add(h: HostInfo & { relay?: boolean }): Promise<HostRow | undefined>;
  /** Deletes a host and its goals; false when there was none. Call inside a transaction. */
  remove(id: string): Promise<boolean>;
  /** Names the host its region's relay, or not. */
  setRelay(id: string, relay: boolean): Promise<void>;
  byId(id: string): Promise<HostRow | undefined>;
  /** The hosts of these ids that exist, in no particular order. */
  byIds(ids: readonly string[]): Promise<HostRow[]>;
  byName(name: string): Promise<HostRow | undefined>;
  /**
   * The goal generations and goal rows of these hosts (of all: `'all'`) that exist, each host's
   * two read in one statement so that they agree: a goal announcement's reader needs these, not
   * the rows with their reports.
   */
  goalStates(ids: readonly string[] | 'all'): Promise<HostGoals[]>;
  /** Every host, by region and name. */
  list(): Promise<HostRow[]>;
  /**
   * Writes reports and last-seen times of many hosts at once, in a few set-based statements (one
   * per thousand hosts); a host without a report only has its last-seen time moved, and a host
   * that no longer exists is skipped.
   */
  saveLiveState(
    states: ReadonlyMap<
      string,
      { report?: unknown; bytesReceived?: Record<string, number>; seenAt: Date }
    >,
  ): Promise<void>;
  /**
   * Hosts written since `since` by the database's clock (every write to a host row counts, its
   * last-seen time included; a goal change does not: its generation is read when announced),
   * with the database's clock at the read: the next call's `since`, less a margin for
   * transactions that were still open. A removed host is not among them.
   */
  changedSince(since: Date): Promise<{ hosts: HostRow[]; now: Date }>;
}

export interface NewJob {
  id: string;
  createdBy: string;
  spec: JobSpec;
  skipped: string[];
  hosts: { id: string; name: string; region: string }[];
}

/** What a host says of its run of a job. */
export interface JobRunReport {
  state: JobRunState;
  exitCode: number | null;
  signal: string | null;
  detail: string | null;
  limitsBy: string | null;
  bytesReceived: Record<string, number>;
  /** By the host's clock: when the process started, and how long it ran once it ended. */
  startedAt: Date | null;
  durationMs: number | null;
  lines: { stream: 'stdout' | 'stderr'; text: string; at: Date }[];
}

/**
 * Jobs and their runs. Whatever changes which runs a host must hold (a new job, a run that
 * started or ended, a cancel) moves that host's goal generation, as goal changes do.
 */
export interface JobRepository {
  /** The job and a run on each of its hosts, `assigned`. */
  add(job: NewJob): Promise<void>;
  get(id: string): Promise<JobRow | undefined>;
  /** Newest first. */
  list(limit: number): Promise<JobRow[]>;
  idsWithPrefix(prefix: string, limit: number): Promise<string[]>;
  /** Runs not ended on these hosts, oldest job first. */
  openOnHosts(hostIds: readonly string[]): Promise<OpenJobRun[]>;
  /** Runs not ended, per host. */
  busy(): Promise<Map<string, number>>;
  /**
   * Records a host's report of its run, appending its lines (the run's oldest dropped past the
   * job's output limit). `ended` and `started` moved the host's goal generation; `gone`: no
   * such run, or it had ended (nothing written).
   */
  report(
    jobId: string,
    hostId: string,
    r: JobRunReport,
  ): Promise<'ended' | 'started' | 'open' | 'gone'>;
  /** Marks the job cancelled; ends runs not taken up; returns the hosts it had open runs on. */
  requestCancel(jobId: string): Promise<string[]>;
  /** Ends every open run of a host (removed: `lost`). */
  endRunsOfHost(hostId: string, state: JobRunState, detail: string): Promise<void>;
  /**
   * Ends as `lost` the runs whose host never took them up within `takeUpMs` of the job's
   * creation, and those running past their job's timeout by `graceMs` (their host never said
   * how they ended); returns them.
   */
  endOverdue(takeUpMs: number, graceMs: number): Promise<{ jobId: string; hostId: string }[]>;
  /** Deletes jobs created before `before` whose runs all ended, output and all; how many. */
  removeEndedBefore(before: Date): Promise<number>;
  /** Output lines after `seq`, in order (of one host if given). */
  output(jobId: string, after: number, limit: number, hostId?: string): Promise<JobLineRow[]>;
}

export interface ServiceMapRepository {
  save(document: unknown, normalized: unknown): Promise<{ version: number; appliedAt: Date }>;
  current(): Promise<ServiceMapRow | undefined>;
}

export interface ChunkRepository {
  add(digest: string, size: number): Promise<void>;
  /**
   * Which of the digests the origin holds. With `touch`, those found count as new again, so
   * garbage collection (which spares chunks younger than its grace time) leaves them to the
   * image about to be registered that needs them.
   */
  present(digests: string[], opts?: { touch?: Date }): Promise<Set<string>>;
  /** The size in bytes of each of the digests the origin holds (absent ones are left out). */
  sizes(digests: string[]): Promise<Map<string, number>>;
  /** Chunks stored (or last asked about) before `before`. */
  olderThan(before: Date): Promise<{ digest: string; size: number }[]>;
  remove(digests: string[]): Promise<void>;
}

export interface ImageRepository {
  add(img: Omit<ImageRow, 'createdAt' | 'tags'>, manifest: string): Promise<void>;
  byId(id: string): Promise<ImageRow | undefined>;
  manifest(id: string): Promise<string | undefined>;
  /** Every registered image's manifest, as stored. */
  manifests(): Promise<string[]>;
  list(service: string | undefined, limit: number): Promise<ImageRow[]>;
  setTag(service: string, tag: string, imageId: string): Promise<void>;
  byTag(service: string, tag: string): Promise<string | undefined>;
  /** Ids of the service's images that start with `prefix`, in order, at most `limit`. */
  idsWithPrefix(service: string, prefix: string, limit: number): Promise<string[]>;
}

export interface ReleaseRepository {
  /** Creates the next release of a service (v1, v2…). Call inside a transaction. */
  add(
    r: Omit<ReleaseRow, 'version' | 'createdAt' | 'config'> & { config: unknown },
  ): Promise<ReleaseRow>;
  get(service: string, version: number): Promise<ReleaseRow | undefined>;
  /** Newest first. */
  list(service: string): Promise<ReleaseRow[]>;
}

export interface DeploymentRepository {
  /** Writes a new deployment; answers it as read back, without reading it. */
  add(d: Deployment, imageId: string): Promise<DeploymentRow>;
  /**
   * Writes the deployment and the hosts in `moved` (those whose state, detail or previous
   * release changed; the others are written as they were); answers the time it was written at (its `updatedAt`).
   */
  update(d: Deployment, moved?: readonly DeploymentHost[]): Promise<Date>;
  get(id: string): Promise<DeploymentRow | undefined>;
  /** Locks the row for the rest of the transaction, then reads it. */
  getForUpdate(id: string): Promise<DeploymentRow | undefined>;
  /**
   * Locks the row for the rest of the transaction and reads only when it was last written and
   * whether a cancellation was asked for (the one change made by others than the orchestrator).
   */
  headForUpdate(id: string): Promise<{ updatedAt: Date; cancelRequested: boolean } | undefined>;
  /** Newest first. */
  list(filter: { service?: string; environment?: string }, limit: number): Promise<DeploymentRow[]>;
  /** Ids that start with `prefix`, in id order, at most `limit`. */
  idsWithPrefix(prefix: string, limit: number): Promise<string[]>;
  /** Ids of deployments still running, oldest first. */
  runningIds(): Promise<string[]>;
  /** The deployments of a service to an environment not ended yet (queued too), oldest first. */
  underWay(service: string, environment: string): Promise<{ id: string; state: string }[]>;
  /**
   * The releases (version and image) the last deployments of a service to an environment that succeeded put in
   * place (deployments that only staged left out), newest first, at most `limit`.
   */
  succeededReleases(
    service: string,
    environment: string,
    limit: number,
  ): Promise<{ version: number; imageId: string }[]>;
  /** Whether a deployment of a service to an environment has succeeded. */
  hasSucceeded(service: string, environment: string): Promise<boolean>;
}

export interface GoalRepository {
  ofHost(hostId: string): Promise<GoalRow[]>;
  ofService(service: string): Promise<GoalRow[]>;
  /** The goals of every one of these hosts. */
  ofHosts(hostIds: readonly string[]): Promise<GoalRow[]>;
  /**
   * Changes goals (absent fields kept), bumps each touched host's generation; returns them. A
   * host named twice gets both changes, the later one's fields winning.
   */
  change(
    service: string,
    changes: { hostId: string; stage?: number | null; active?: number | null }[],
  ): Promise<string[]>;
}

export interface EventRepository {
  /**
   * Appends events in their order; resolves with the id of the last one (null for none): ids
   * grow in the order events are added.
   */
  add(events: NewEvent[]): Promise<number | null>;
  /** Events after `afterId`, oldest first; of one deployment when `deploymentId` is given. */
  after(afterId: number, deploymentId: string | null, limit?: number): Promise<EventRow[]>;
  lastId(): Promise<number>;
}

/**
 * Channels on which a committed change is announced to every server process: `events` (the
 * last event id), `goals` (host ids, or `*`), `tokens` (revoked credentials, `revoked-tokens.ts`),
 * `jobs` (a job id whose runs or output moved).
 */
export type Channel = 'events' | 'goals' | 'tokens' | 'jobs';

/**
 * A named lead that at most one process on the database holds at a time (on PostgreSQL a session
 * advisory lock on a connection of its own; PGlite, embedded, always leads). A process that
 * dies loses it with its session.
 */
export interface Leadership {
  /** Whether this process holds the lead, as far as it knows. */
  readonly held: boolean;
  /** Takes the lead when no other process holds it; true when held (already or now). */
  tryAcquire(): Promise<boolean>;
  /**
   * Calls `fn` (with why) when a held lead is lost: its connection dropped or failed a check,
   * so the lock may be someone else's. Returns the unsubscribe.
   */
  onLost(fn: (why: string) => void): () => void;
  /** Gives the lead up, and any connection kept for it. */
  release(): Promise<void>;
}

/** The control plane's persistent state. Repositories run in the transaction they are bound to. */
export interface Store {
  /** Which engine is behind it, for logs. */
  readonly engine: 'pglite' | 'postgres';
  readonly tokens: TokenRepository;
  readonly users: UserRepository;
  readonly audit: AuditRepository;
  readonly keys: ServerKeyRepository;
  readonly hosts: HostRepository;
  readonly serviceMaps: ServiceMapRepository;
  readonly chunks: ChunkRepository;
  readonly images: ImageRepository;
  readonly releases: ReleaseRepository;
  readonly deployments: DeploymentRepository;
  readonly goals: GoalRepository;
  readonly jobs: JobRepository;
  readonly events: EventRepository;
  /** Runs `fn` in one transaction (or in the current one, when already inside one). */
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T>;
  /**
   * Announces `payload` on `channel` to every listener of every process on this database, once
   * the current transaction commits (at once outside one); nothing, if it rolls back.
   */
  notify(channel: Channel, payload: string): Promise<void>;
  /** Calls `fn` with each payload announced on `channel`; returns the unsubscribe. */
  listen(channel: Channel, fn: (payload: string) => void): () => void;
  /**
   * Calls `fn` when announcements on any channel may have been missed: the connection that
   * listens (PostgreSQL) was lost and listens again; `fn` runs once it does, so nothing is missed
   * after. Whoever keeps state that announcements keep fresh drops or reads it again here.
   * Embedded PGlite misses nothing and never calls it. Returns the unsubscribe.
   */
  onMissed(fn: () => void): () => void;
  /** A new handle on the named lead; released when the store closes. */
  leadership(name: string): Leadership;
  close(): Promise<void>;
}
