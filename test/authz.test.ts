/**
 * Who may call what: every route of the API table × every kind of caller — a user token of each
 * role (a deployer both inside and outside the scope of what the route acts on), an agent's
 * credential, the join token, no token. A new route fails here until its row says who may call
 * it. And an agent downloads only the images its goal names (a relay: its region's).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  routes,
  SlipwayClient,
  type Auth,
  type RouteName,
  type TargetOf,
} from '../src/api/index.js';
import { buildImage } from '../src/cli/index.js';
import type { Role } from '../src/core/index.js';
import { manifestChunks, parseManifest } from '../src/image/index.js';
import type { Store } from '../src/store/index.js';
import { startInProcessServer, type InProcessServer } from './helpers/in-process-server.js';
import { tinyImage } from './helpers/tiny-image.js';
import { until } from './helpers/until.js';

/** What each route needs, and what a scoped one is checked on. Adding a route means deciding its row here. */
const EXPECTED: Record<RouteName, { auth: Auth; target?: TargetOf }> = {
  health: { auth: 'none' },
  enroll: { auth: 'join' },
  agentGoal: { auth: 'agent' },
  agentReport: { auth: 'agent' },
  listHosts: { auth: 'read' },
  removeHost: { auth: 'operate' },
  setHostRelay: { auth: 'operate' },
  getServiceMap: { auth: 'read' },
  applyServiceMap: { auth: 'admin' },
  missingChunks: { auth: 'build' },
  collectGarbage: { auth: 'admin' },
  putChunk: { auth: 'build' },
  getChunk: { auth: 'fetch' },
  createImage: { auth: 'build', target: 'new-image' },
  listImages: { auth: 'read' },
  getImage: { auth: 'read' },
  getManifest: { auth: 'fetch' },
  tagImage: { auth: 'build', target: 'image' },
  listReleases: { auth: 'read' },
  createDeployment: { auth: 'deploy', target: 'new-deployment' },
  planDeployment: { auth: 'deploy', target: 'new-deployment' },
  listDeployments: { auth: 'read' },
  getDeployment: { auth: 'read' },
  cancelDeployment: { auth: 'deploy', target: 'deployment' },
  pauseDeployment: { auth: 'deploy', target: 'deployment' },
  resumeDeployment: { auth: 'deploy', target: 'deployment' },
  approveDeployment: { auth: 'approve', target: 'deployment' },
  rejectDeployment: { auth: 'approve', target: 'deployment' },
  deploymentEvents: { auth: 'read' },
  events: { auth: 'read' },
  status: { auth: 'read' },
  whoami: { auth: 'read' },
  listUsers: { auth: 'admin' },
  createUser: { auth: 'admin' },
  removeUser: { auth: 'admin' },
  listTokens: { auth: 'admin' },
  createToken: { auth: 'admin' },
  revokeToken: { auth: 'admin' },
  listAudit: { auth: 'read' },
  verifyAudit: { auth: 'read' },
  createJob: { auth: 'operate' },
  listJobs: { auth: 'read' },
  getJob: { auth: 'read' },
  jobOutput: { auth: 'read' },
  cancelJob: { auth: 'operate' },
  agentJobReport: { auth: 'agent' },
};

/**
 * Callers: a token of each role everywhere; `deployer-in` a deployer of env-a/svc-a (what the
 * scoped routes below act on), `deployer-out` a deployer of env-b/svc-b; approvers of env-a and
 * env-b likewise.
 */
const USERS = [
  'admin',
  'viewer',
  'deployer-in',
  'deployer-out',
  'approver-in',
  'approver-out',
  'operator',
] as const;
type Who = (typeof USERS)[number] | 'agent' | 'join' | 'none';
const WHO: Who[] = [...USERS, 'agent', 'join', 'none'];
const GRANTS: Record<Exclude<(typeof USERS)[number], 'admin'>, [Role, string?, string?]> = {
  viewer: ['viewer'],
  'deployer-in': ['deployer', 'env-a', 'svc-a'],
  'deployer-out': ['deployer', 'env-b', 'svc-b'],
  'approver-in': ['approver', 'env-a'],
  'approver-out': ['approver', 'env-b'],
  operator: ['operator'],
};

const everyUser: Who[] = [...USERS];
/** Which callers a permission lets through, on some scope (`fetch`: agents per image, below). */
const ADMITS: Record<Auth, Who[]> = {
  none: WHO,
  join: ['join'],
  agent: ['agent'],
  read: everyUser,
  fetch: everyUser,
  build: ['admin', 'deployer-in', 'deployer-out'],
  deploy: ['admin', 'deployer-in', 'deployer-out'],
  approve: ['admin', 'approver-in', 'approver-out'],
  operate: ['admin', 'operator'],
  'break-glass': ['admin'],
  admin: ['admin'],
};
/** Callers refused by a route with a target, which is env-a/svc-a's. */
const OUT_OF_SCOPE: Who[] = ['deployer-out', 'approver-out'];

const SPEC = {
  run: { argv: ['node', 'server.js'] },
  port: null,
  env: {},
  health: null,
  after: [],
  placement: { regions: [], labels: {} },
  rollout: { batchSize: { count: 1 }, failureThreshold: { count: 0 } },
  keepReleases: 3,
};

describe('authorization', () => {
  let dir: string;
  let store: Store;
  let s: InProcessServer;
  let url: string;
  const tokens = {} as Record<Who, string | null>;
  let admin: SlipwayClient;
  let joiner: SlipwayClient;
  /** Real things of env-a/svc-a for the scoped routes to act on. */
  let imageId: string;
  let deploymentId: string;

  beforeAll(async () => {
    s = await startInProcessServer();
    ({ dir, store, url, admin, joiner } = s);
    tokens.admin = s.adminToken;
    tokens.join = s.joinToken;
    tokens.none = null;
    tokens.agent = (await joiner.enroll({ name: 'matrix', region: 'rm', labels: {} })).token;
    await admin.applyServiceMap({
      services: { 'svc-a': { run: 'node server.js' }, 'svc-b': { run: 'node server.js' } },
      // Hosts no test host has: a deployment let through is then refused for want of hosts.
      environments: {
        'env-a': { hosts: { labels: { tier: 'a' } } },
        'env-b': { hosts: { labels: { tier: 'b' } } },
      },
    });
    for (const [who, [role, environment, service]] of Object.entries(GRANTS)) {
      const user = `user-${who}`;
      await admin.createUser({ name: user });
      tokens[who as Who] = (await admin.createToken({ user, role, environment, service })).token;
    }
    imageId = await tinyImage(admin, dir, 'svc-a', 'matrix');
    const release = await store.releases.add({
      service: 'svc-a',
      imageId,
      environment: 'env-a',
      config: { ...SPEC, name: 'svc-a' },
    });
    deploymentId = randomUUID();
    await store.deployments.add(
      {
        id: deploymentId,
        service: 'svc-a',
        environment: 'env-a',
        kind: 'deploy',
        release: release.version,
        state: 'succeeded',
        currentBatch: 0,
        batchCount: 0,
        failureThreshold: 0,
        hosts: [],
        deadline: null,
        reason: null,
        cancelRequested: false,
      },
      imageId,
    );
  });
  afterAll(() => s.stop());

  /** Path parameters: the real env-a/svc-a image and deployment where a route acts on one. */
  function pathOf(name: RouteName): string {
    const id: Partial<Record<RouteName, string>> = {
      getImage: imageId,
      getManifest: imageId,
      tagImage: imageId,
      getDeployment: deploymentId,
      cancelDeployment: deploymentId,
      pauseDeployment: deploymentId,
      resumeDeployment: deploymentId,
      approveDeployment: deploymentId,
      rejectDeployment: deploymentId,
      deploymentEvents: deploymentId,
    };
    return routes[name].path
      .replace(':digest', '0'.repeat(64))
      .replace(':name', 'no-such-name')
      .replace(':id', id[name] ?? 'no-such-id')
      .replace(':service', 'no-such-service');
  }

  /** Bodies that pass validation as far as what the route acts on (env-a/svc-a). */
  const BODY: Partial<Record<RouteName, object>> = {
    createDeployment: { service: 'svc-a', environment: 'env-a', image: 'no-such-image' },
    planDeployment: { service: 'svc-a', environment: 'env-a', image: 'no-such-image' },
    createImage: { service: 'svc-a', manifest: {} },
    tagImage: { tag: 'matrix' },
    rejectDeployment: { reason: 'matrix' },
  };

  /** The status of calling `name` as `who`, with placeholder parameters and an empty body. */
  async function statusOf(name: RouteName, who: Who): Promise<number> {
    const route = routes[name];
    const headers: Record<string, string> = {};
    const token = tokens[who];
    if (token) headers.authorization = `Bearer ${token}`;
    let body: string | Buffer | undefined;
    if (route.method !== 'GET' && route.method !== 'DELETE') {
      const raw = 'contentType' in route && route.contentType === 'application/octet-stream';
      headers['content-type'] = raw ? 'application/octet-stream' : 'application/json';
      body = raw ? Buffer.from('x') : JSON.stringify(BODY[name] ?? {});
    }
    const stop = new AbortController();
    // A long poll answers at once; the event stream starts with the events so far (its headers
    // are sent with its first event), and is left as soon as its status is known.
    const query = { agentGoal: '?waitMs=0', events: '?after=0' } as Partial<
      Record<RouteName, string>
    >;
    const res = await fetch(`${url}${pathOf(name)}${query[name] ?? ''}`, {
      method: route.method,
      headers,
      body,
      signal: stop.signal,
    });
    stop.abort();
    return res.status;
  }

  it('names who may call every route, and what a scoped one is checked on', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual(Object.keys(routes).sort());
    for (const [name, route] of Object.entries(routes)) {
      const declared = { auth: route.auth, target: 'target' in route ? route.target : undefined };
      expect(declared, name).toEqual({ target: undefined, ...EXPECTED[name as RouteName] });
    }
  });

  it('refuses every route to every caller it does not admit, in scope and out, and lets the others through', async () => {
    const wrong: string[] = [];
    for (const name of Object.keys(routes) as RouteName[]) {
      const { auth, target } = EXPECTED[name];
      for (const who of WHO) {
        const status = await statusOf(name, who);
        const admitted =
          ADMITS[auth].includes(who) && !(target !== undefined && OUT_OF_SCOPE.includes(who));
        const expected = admitted ? 'through' : who === 'none' ? '401' : '403';
        const got = status === 401 ? '401' : status === 403 ? '403' : 'through';
        // An agent asking for an image its goal does not name is refused (403) by the handler.
        const agentFetch = auth === 'fetch' && who === 'agent';
        if (got !== (agentFetch ? '403' : expected)) wrong.push(`${name} as ${who}: ${status}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('lets an agent download only the images its goal names; a relay its region’s', async () => {
    const build = async (service: string, data: Buffer) => {
      const tree = join(dir, `tree-${service}`);
      await mkdir(tree, { recursive: true });
      await writeFile(join(tree, 'data.bin'), data);
      const { imageId } = await buildImage(admin, tree, service, [], () => {});
      const manifest = parseManifest(await admin.getManifest(imageId));
      return { imageId, chunks: manifestChunks(manifest).map((c) => c.digest) };
    };
    // Two images alike but for a few bytes: a chunk of one is a good delta base for the other.
    const data = randomBytes(600_000);
    const mine = await build('mine', data);
    const changed = Buffer.from(data);
    changed.write('changed!', 300_000);
    const theirs = await build('theirs', changed);
    const mineOnly = mine.chunks.filter((c) => !theirs.chunks.includes(c));
    const theirsOnly = theirs.chunks.filter((c) => !mine.chunks.includes(c));
    expect(mineOnly.length).toBeGreaterThan(0);
    expect(theirsOnly.length).toBeGreaterThan(0);
    const enroll = async (name: string, relay = false) => {
      const r = await joiner.enroll({ name, region: 'r-img', labels: {}, relay });
      return { ...r, client: new SlipwayClient({ server: url, token: r.token }) };
    };
    const me = await enroll('img-me');
    const neighbour = await enroll('img-neighbour');
    const relay = await enroll('img-relay', true);
    const give = (hostId: string, service: string, imageId: string) =>
      store.transaction(async (tx) => {
        const r = await tx.releases.add({
          service,
          imageId,
          environment: 'default',
          config: { ...SPEC, name: service },
        });
        await tx.goals.change(service, [{ hostId, stage: r.version }]);
        await tx.notify('goals', hostId);
      });

    const status = (token: string, path: string) =>
      fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } }).then((r) => {
        void r.body?.cancel();
        return r.status;
      });
    // Nothing in its goal yet: nothing to download.
    expect(await status(me.token, `/v1/images/${mine.imageId}/manifest`)).toBe(403);
    expect(await status(me.token, `/v1/chunks/${mine.chunks[0]}`)).toBe(403);

    await give(me.hostId, 'mine', mine.imageId);
    await give(neighbour.hostId, 'theirs', theirs.imageId);
    await until('the goal counts', async () =>
      (await status(me.token, `/v1/images/${mine.imageId}/manifest`)) === 200 ? true : undefined,
    );
    expect(await status(me.token, `/v1/chunks/${mine.chunks[0]}`)).toBe(200);
    // Another host's image, manifest and chunks, stays out of reach.
    expect(await status(me.token, `/v1/images/${theirs.imageId}/manifest`)).toBe(403);
    expect(await status(me.token, `/v1/chunks/${theirsOnly[0]}`)).toBe(403);
    // So does the rest of what only users read.
    expect(await status(me.token, '/v1/service-map')).toBe(403);
    expect(await status(me.token, '/v1/images')).toBe(403);
    expect(await status(me.token, '/v1/events')).toBe(403);
    // A delta against a chunk it may not read is not made: the chunk comes whole (a delta
    // would tell what the two have in common). Against its own, it is.
    const withBase = (token: string, base: string) =>
      fetch(`${url}/v1/chunks/${mineOnly[0]}?base=${base}`, {
        headers: { authorization: `Bearer ${token}` },
      }).then(async (r) => {
        await r.arrayBuffer();
        return [r.status, r.headers.get('x-slipway-delta-base')];
      });
    expect(await withBase(me.token, theirsOnly[0]!)).toEqual([200, null]);
    expect(await withBase(tokens.admin!, theirsOnly[0]!)).toEqual([200, theirsOnly[0]]);

    // The relay fetches for its whole region.
    for (const img of [mine, theirs]) {
      expect(await status(relay.token, `/v1/images/${img.imageId}/manifest`)).toBe(200);
    }
    expect(await status(relay.token, `/v1/chunks/${theirsOnly[0]}`)).toBe(200);
    // The admin reads everything.
    expect(await status(tokens.admin!, `/v1/chunks/${theirsOnly[0]}`)).toBe(200);
  });
});
