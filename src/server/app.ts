/**
 * Builds the whole control plane from the dependencies it is given (store, object store,
 * clock), so tests can run a complete server in-process. `main` wires the real ones.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { openApiDocument, routes } from '../api/index.js';
import type { ObjectStore } from '../image/index.js';
import type { Store } from '../store/index.js';
import { agentRoutes } from './routes-agents.js';
import { controlRoutes } from './routes-deployments.js';
import { EventBus } from './event-bus.js';
import { addRoute, installErrorHandling } from './http.js';
import { imageRoutes } from './routes-images.js';
import { Orchestrator } from './orchestrator.js';
import { collectOriginChunks } from './origin-gc.js';

export const VERSION = '0.1.0';

export interface ServerDeps {
  store: Store;
  /** The origin's chunk store. */
  objects: ObjectStore;
  now?: () => number;
  log?: (msg: string) => void;
  /** Orchestrator tick; tests shorten it. */
  tickMs?: number;
  /** Origin garbage collection: how often, and how old an unreferenced chunk must be. */
  gc?: { everyMs: number; graceMs: number };
}

const DEFAULT_GC = { everyMs: 60 * 60_000, graceMs: 60 * 60_000 };

export interface SlipwayServer {
  app: FastifyInstance;
  orchestrator: Orchestrator;
  bus: EventBus;
  /** Starts listening and orchestrating; returns the base URL. */
  listen(host: string, port: number): Promise<string>;
  close(): Promise<void>;
}

/** Largest request body: a chunk (at most 256 KiB) or a manifest of a very large image. */
const BODY_LIMIT = 64 * 1024 * 1024;

export function buildServer(deps: ServerDeps): SlipwayServer {
  const now = deps.now ?? Date.now;
  const log = deps.log ?? (() => {});
  const app = Fastify({ logger: false, bodyLimit: BODY_LIMIT, forceCloseConnections: true });
  app.addContentTypeParser(
    'application/octet-stream',
    { parseAs: 'buffer', bodyLimit: BODY_LIMIT },
    (_req, body, done) => done(null, body),
  );
  const bus = new EventBus();
  const orchestrator = new Orchestrator({ store: deps.store, bus, now, log, tickMs: deps.tickMs });
  installErrorHandling(app, log);

  addRoute(app, deps.store, routes.health, () => Promise.resolve({ ok: true as const }));
  app.get('/v1/openapi.json', () => Promise.resolve(openApiDocument(VERSION)));
  agentRoutes(app, deps.store, bus);
  imageRoutes(app, deps.store, deps.objects);
  controlRoutes(app, deps.store, bus, orchestrator, now);
  const gc = deps.gc ?? DEFAULT_GC;
  const collect = async (graceMs: number) => {
    const r = await collectOriginChunks(deps.store, deps.objects, { graceMs, now: now() });
    if (r.removed > 0) log(`origin gc: removed ${r.removed} chunk(s), ${r.bytesFreed} bytes`);
    return r;
  };
  addRoute(app, deps.store, routes.collectGarbage, ({ body }) =>
    collect(body.graceSeconds === undefined ? gc.graceMs : body.graceSeconds * 1000),
  );
  let gcTimer: NodeJS.Timeout | null = null;

  return {
    app,
    orchestrator,
    bus,
    async listen(host, port) {
      const address = await app.listen({ host, port });
      orchestrator.start();
      gcTimer = setInterval(() => {
        collect(gc.graceMs).catch((e: unknown) => log(`origin gc failed: ${(e as Error).message}`));
      }, gc.everyMs);
      gcTimer.unref();
      return address.replace('[::1]', '127.0.0.1');
    },
    async close() {
      if (gcTimer) clearInterval(gcTimer);
      await orchestrator.stop();
      await app.close();
    },
  };
}
