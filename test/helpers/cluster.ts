/**
 * A whole Slipway installation for integration tests: the server in-process (embedded PGlite),
 * agents as real `slipway agent` processes on loopback, each with its own data dir.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { SlipwayClient, type DeploymentView } from '../../src/api/index.js';
import { isTerminal } from '../../src/core/index.js';
import { buildImage } from '../../src/cli/index.js';
import { LocalFleet, type AgentSpec } from '../harness/local-fleet.js';
import { ObjectStore } from '../../src/image/index.js';
import { bootstrapTokens, buildServer, type SlipwayServer } from '../../src/server/index.js';
import { openStore, type Store } from '../../src/store/index.js';
import { TEST_SERVER_KEY } from './server-key.js';
import { until } from './until.js';

export const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

/**
 * Builds an image of an example service, copied to `src`, with `release` as its release.json
 * plus any `extra` files (name → bytes).
 */
export async function buildExample(
  client: SlipwayClient,
  src: string,
  service: string,
  release: Record<string, string>,
  extra: Record<string, Uint8Array> = {},
): Promise<string> {
  await cp(join(EXAMPLES, service), src, { recursive: true });
  await writeFile(join(src, 'release.json'), JSON.stringify(release));
  for (const [name, data] of Object.entries(extra)) await writeFile(join(src, name), data);
  return (await buildImage(client, src, service, [], () => {})).imageId;
}

/** Polls deployment `id` until it ends (succeeded, failed, rolled back or cancelled). */
export function waitForEnd(
  client: SlipwayClient,
  id: string,
  timeoutMs = 45_000,
): Promise<DeploymentView> {
  return until(
    `deployment ${id} to end`,
    async () => {
      const now = await client.getDeployment(id);
      return isTerminal(now.state) ? now : undefined;
    },
    { timeoutMs, intervalMs: 100 },
  );
}

/**
 * A service map for tests: the two example services with short health deadlines. scores-api's
 * leaves room for a release that warms up 1.5 s (the crash test) to start on a machine busy
 * with the whole suite: at 3 s it failed health there now and then.
 */
export const TEST_MAP = `
regions: [r1, r2]
services:
  scores-api:
    run: [node, server.js]
    port: dynamic
    health: { http: /healthz, interval: 100ms, timeout: 1s, deadline: 6s }
    rollout: { batchSize: 2 }
  securities-api:
    run: [node, server.js]
    port: dynamic
    after: [scores-api]
    health: { http: /healthz, interval: 100ms, deadline: 5s }
`;

export class TestCluster {
  readonly fleet: LocalFleet;
  server!: SlipwayServer;
  store!: Store;
  client!: SlipwayClient;
  private builds = 0;

  private constructor(readonly dir: string) {
    this.fleet = new LocalFleet(dir);
  }

  static async start(agents: AgentSpec[], map = TEST_MAP): Promise<TestCluster> {
    const c = new TestCluster(await mkdtemp(join(tmpdir(), 'slipway-test-')));
    c.store = await openStore({ engine: 'pglite', dataDir: null });
    const { written } = await bootstrapTokens(c.store, c.dir);
    c.server = buildServer({
      serverKey: TEST_SERVER_KEY,
      store: c.store,
      objects: new ObjectStore(join(c.dir, 'origin')),
      tickMs: 200,
    });
    const url = await c.server.listen('127.0.0.1', 0);
    c.fleet.url = url;
    c.fleet.adminToken = written.find((w) => w.kind === 'admin')!.token;
    c.fleet.joinToken = written.find((w) => w.kind === 'join')!.token;
    c.client = new SlipwayClient({ server: url, token: c.fleet.adminToken });
    for (const a of agents) c.fleet.startAgent(a);
    await c.fleet.waitForHosts(agents.map((a) => a.name));
    await c.client.applyServiceMap(parseYaml(map));
    return c;
  }

  /**
   * Builds an image of an example service with `release` as its release.json, plus any
   * `extra` files (name → bytes).
   */
  async build(
    service: string,
    release: Record<string, string>,
    extra: Record<string, Uint8Array> = {},
  ): Promise<string> {
    const src = join(this.dir, 'src', `${service}-${this.builds++}`);
    return buildExample(this.client, src, service, release, extra);
  }

  async deploy(service: string, image: string): Promise<DeploymentView> {
    return this.waitFor(await this.client.createDeployment({ service, image }));
  }

  /** Polls a deployment until it ends. */
  waitFor(d: DeploymentView, timeoutMs = 45_000): Promise<DeploymentView> {
    return waitForEnd(this.client, d.id, timeoutMs);
  }

  /** What each host's service answers on its port right now. */
  async fetchFrom(host: string, service: string, path: string): Promise<unknown> {
    const row = (await this.client.status()).find((r) => r.host === host && r.service === service);
    if (!row?.port) throw new Error(`${service} has no port on ${host}`);
    const res = await fetch(`http://127.0.0.1:${row.port}${path}`);
    return res.json();
  }

  agentDir(name: string): string {
    return join(this.dir, 'agents', name);
  }

  async agentLog(name: string): Promise<string> {
    return readFile(join(this.dir, 'logs', `agent-${name}.log`), 'utf8');
  }

  async stop(): Promise<void> {
    await this.fleet.stop();
    await this.server.close();
    await this.store.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}
