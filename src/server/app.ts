/**
 * Builds the whole control plane from the dependencies it is given (store, object store,
 * clock), so tests can run a complete server in-process. `main` wires the real ones.
 *
 * Where things are: `http/` parses and answers (one `addRoute`, which authenticates and
 * authorizes before the body is read); `app/` holds the operations, each taking who acts and
 * what they ask and running in one unit of work that writes the change and its events together;
 * `authz/` says who is calling and what they may do; `events/` reads the committed events and
 * goal changes back for streams and long polls; `hosts/` keeps the agents' latest reports.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Cidr } from '../core/index.js';
import { DEFAULT_BODY_LIMIT, openApiDocument, routes } from '../api/index.js';
import { DEFAULT_MAX_MANIFEST_ENTRIES, type ObjectStore } from '../image/index.js';
import type { Store } from '../store/index.js';
import type { AppContext } from './app/context.js';
import { collectOriginChunks } from './app/origin-gc.js';
import { TicketKey } from './app/ticket-key.js';
import { UnitOfWork } from './app/unit-of-work.js';
import { Authenticator } from './authz/authenticate.js';
import { targetResolver } from './authz/targets.js';
import { AuditRecorder } from './audit/recorder.js';
import { accessRoutes } from './http/access.js';
import { auditRoutes } from './http/audit.js';
import { jobRoutes } from './http/jobs.js';
import { startJobHousekeeping } from './app/job-housekeeping.js';
import { JobWatch } from './events/job-watch.js';
import { ImageAccess } from './authz/image-access.js';
import { EventFeed } from './events/event-feed.js';
import { GoalWatch } from './events/goal-watch.js';
import { GoalBook } from './app/goal-book.js';
import { RecentTickets } from './app/recent-tickets.js';
import { LiveHosts } from './hosts/live-hosts.js';
import { agentRoutes } from './http/agents.js';
import { deploymentRoutes } from './http/deployments.js';
import { installErrorHandling } from './http/errors.js';
import { fleetRoutes } from './http/fleet.js';
import { imageRoutes } from './http/images.js';
import {
  DEFAULT_CONNECTION_LIMITS,
  capConnectionsPerAddress,
  fastifyTimeoutOptions,
  type ConnectionLimits,
} from './http/connection-limits.js';
import { addRoute } from './http/route.js';
import { GateReader } from './rollout/gate-reader.js';
import { WindowWatch } from './rollout/window-watch.js';
import { Orchestrator } from './orchestrator.js';
import { DeploymentSteps } from './app/deployment-step.js';
import { ReportSpread } from './app/report-spread.js';

/**
 * Connections the kernel may queue for the server to accept (Node's default is 511; Linux caps it
 * at net.core.somaxconn, 4096 by default). Thousands of agents reconnect at once after a network
 * blip or a server restart; a connection the queue cannot take waits for its SYN to be sent
 * again, a second and then three.
 */
const LISTEN_BACKLOG = 4096;

export const VERSION = '0.1.0';

export interface ServerDeps {
  store: Store;
  /** The origin's chunk store. */
  objects: ObjectStore;
  /**
   * The server key (`<data-dir>/server.key`, see `loadServerKey`): seals the secrets kept in the
   * database. Every server on one database must have the same.
   */
  serverKey: Buffer;
  now?: () => number;
  log?: (msg: string) => void;
  /** Orchestrator tick; tests shorten it. */
  tickMs?: number;
  /** Reports a second the server spreads agents' reports after a goal change to (tests lower it). */
  reportsPerSecond?: number;
  /**
   * Wrong tokens one address may send at once, and then a second, before its unknown tokens are
   * refused without a lookup (`authz/failed-logins.ts`); benchmarks turn it off to compare.
   */
  failedLogins?: { burst: number; perSecond: number };
  /**
   * How often this server's orchestrator, standing by while another server on the database
   * leads, tries to take the lead (default 2 s); tests shorten it.
   */
  leadRetryMs?: number;
  /**
   * Networks (`slipway server --peer-networks`) whose addresses agents may advertise as their
   * peer URL though their reports come from another address (NAT).
   */
  peerNetworks?: readonly Cidr[];
  /** Origin garbage collection: how often, and how old an unreferenced chunk must be. */
  gc?: { everyMs: number; graceMs: number };
  /** Timeouts and the per-address connection cap; tests shorten them. */
  connections?: Partial<ConnectionLimits>;
  /** Most entries (paths) an image's manifest may have. */
  maxImageEntries?: number;
}

const DEFAULT_GC = { everyMs: 60 * 60_000, graceMs: 60 * 60_000 };

export interface SlipwayServer {
  app: FastifyInstance;
  orchestrator: Orchestrator;
  /** Hosts as their agents last reported them (reports are written to the store behind). */
  hosts: LiveHosts;
  /** Starts listening and orchestrating; returns the base URL. */
  listen(host: string, port: number): Promise<string>;
  /** Stops, writing what agents reported last; the store stays open (it is the caller's). */
  close(): Promise<void>;
}

export function buildServer(deps: ServerDeps): SlipwayServer {
  const now = deps.now ?? Date.now;
  const log = deps.log ?? (() => {});
  const { store, objects } = deps;
  const limits: ConnectionLimits = { ...DEFAULT_CONNECTION_LIMITS, ...deps.connections };
  // Each route of the table has its own body limit (`addRoute`); this one is for the rest.
  const app = Fastify({
    logger: false,
    bodyLimit: DEFAULT_BODY_LIMIT,
    forceCloseConnections: true,
    ...fastifyTimeoutOptions(limits),
  });
  capConnectionsPerAddress(app.server, limits.maxConnectionsPerAddress);
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) =>
    done(null, body),
  );
  installErrorHandling(app, log);

  const audit = new AuditRecorder(store, now, log);
  const uow = new UnitOfWork(store, audit);
  const ticketKey = new TicketKey(store, deps.serverKey);
  const hosts = new LiveHosts(store, log, now);
  const goalBook = new GoalBook(store);
  const goals = new GoalWatch(
    store,
    async (ids) => goalBook.learn(await hosts.readGoals(ids)),
    log,
  );
  const feed = new EventFeed(store, log);
  const jobWatch = new JobWatch(store);
  const steps = new DeploymentSteps(hosts);
  const orchestrator: Orchestrator = new Orchestrator({
    store,
    uow,
    steps,
    now,
    log,
    tickMs: deps.tickMs,
    leadRetryMs: deps.leadRetryMs,
    gates: new GateReader(() => orchestrator.kick(), now),
    windows: new WindowWatch(store),
  });
  const ctx: AppContext = {
    store,
    uow,
    hosts,
    goals,
    goalBook,
    jobWatch,
    steps,
    objects,
    peerNetworks: deps.peerNetworks ?? [],
    ticketKey,
    tickets: new RecentTickets(),
    reportSpread: new ReportSpread(deps.reportsPerSecond),
    now,
    log,
    kick: () => orchestrator.kick(),
    pass: () => orchestrator.pass(),
  };
  const auth = new Authenticator(store, now, undefined, deps.failedLogins);
  const routeHost = { app, auth, targets: targetResolver(ctx), audit };

  addRoute(routeHost, routes.health, () => Promise.resolve({ ok: true as const }));
  app.get('/v1/openapi.json', () => Promise.resolve(openApiDocument(VERSION)));
  agentRoutes(routeHost, ctx);
  const imageAccess = new ImageAccess(store, (s, v) => ctx.goalBook.release(s, v), now);
  imageRoutes(routeHost, ctx, imageAccess, {
    maxImageEntries: deps.maxImageEntries ?? DEFAULT_MAX_MANIFEST_ENTRIES,
  });
  fleetRoutes(routeHost, ctx);
  deploymentRoutes(routeHost, ctx, feed);
  accessRoutes(routeHost, ctx);
  auditRoutes(routeHost, store);
  jobRoutes(routeHost, ctx);

  const gc = deps.gc ?? DEFAULT_GC;
  const collect = async (graceMs: number) => {
    const r = await collectOriginChunks(store, objects, { graceMs, now: now() });
    if (r.removed > 0) log(`origin gc: removed ${r.removed} chunk(s), ${r.bytesFreed} bytes`);
    return r;
  };
  addRoute(routeHost, routes.collectGarbage, ({ body }) =>
    collect(body.graceSeconds === undefined ? gc.graceMs : body.graceSeconds * 1000),
  );
  let gcTimer: NodeJS.Timeout | null = null;
  let stopJobHousekeeping = () => {};
  const started = feed.start();

  return {
    app,
    orchestrator,
    hosts,
    async listen(host, port) {
      await started;
      // Refuse to start, saying why, when the stored secrets cannot be opened with our key.
      await ticketKey.get();
      hosts.start();
      const address = await app.listen({ host, port, backlog: LISTEN_BACKLOG });
      orchestrator.start();
      audit.start();
      gcTimer = setInterval(() => {
        collect(gc.graceMs).catch((e: unknown) => log(`origin gc failed: ${(e as Error).message}`));
      }, gc.everyMs);
      gcTimer.unref();
      stopJobHousekeeping = startJobHousekeeping(ctx);
      return address.replace('[::1]', '127.0.0.1');
    },
    async close() {
      if (gcTimer) clearInterval(gcTimer);
      stopJobHousekeeping();
      await started.catch(() => {});
      feed.stop();
      goals.stop();
      jobWatch.stop();
      imageAccess.stop();
      auth.stop();
      audit.stop();
      await orchestrator.stop();
      await app.close();
      await hosts.close();
    },
  };
}
