/**
 * The CLI's verbs against a real server, run in this process with their output collected: what
 * a user reads on stdout and stderr, and what a script reads with --json.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlipwayClient, type SlipwayEvent } from '../src/api/index.js';
import { runCli, type ProcessCommands } from '../src/cli/index.js';
import { ObjectStore } from '../src/image/index.js';
import { bootstrapTokens, buildServer, type SlipwayServer } from '../src/server/index.js';
import { openStore, type Store } from '../src/store/index.js';
import { EXAMPLES } from './helpers/cluster.js';
import { TEST_SERVER_KEY } from './helpers/server-key.js';
import { until } from './helpers/until.js';

const noProcesses: ProcessCommands = {
  server: () => Promise.reject(new Error('no server process in this test')),
  agent: () => Promise.reject(new Error('no agent process in this test')),
  stopServices: () => Promise.reject(new Error('no processes here')),
  migrateDatabase: () => Promise.reject(new Error('no processes here')),
};

describe('slipway verbs', () => {
  let dir: string;
  let store: Store;
  let server: SlipwayServer;
  let globals: string[];
  let url: string;
  let admin: SlipwayClient;
  let joinToken: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slipway-cli-'));
    store = await openStore({ engine: 'pglite', dataDir: null });
    const { written } = await bootstrapTokens(store, dir);
    server = buildServer({
      serverKey: TEST_SERVER_KEY,
      store,
      objects: new ObjectStore(join(dir, 'origin')),
    });
    url = await server.listen('127.0.0.1', 0);
    const adminToken = written.find((w) => w.kind === 'admin')!.token;
    globals = ['--server', url, '--token', adminToken];
    admin = new SlipwayClient({ server: url, token: adminToken });
    joinToken = written.find((w) => w.kind === 'join')!.token;
  });
  afterAll(async () => {
    await server.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function slipway(...args: string[]) {
    const { text, done } = start(...args);
    return { code: await done, ...text };
  }

  /** Starts a verb: what it printed so far is in `text`, its exit code comes with `done`. */
  function start(...args: string[]) {
    const text = { stdout: '', stderr: '' };
    const done = runCli(['node', 'slipway', ...globals, ...args], noProcesses, {
      stdout: { write: (s: string) => (text.stdout += s) },
      stderr: { write: (s: string) => (text.stderr += s) },
    });
    return { text, done };
  }

  it('applies the service map and says what it holds', async () => {
    const r = await slipway('apply', '-f', join(EXAMPLES, 'slipway.yaml'));
    expect(r).toEqual({
      code: 0,
      stdout: 'applied service map v1: 2 service(s), 0 environment(s)\n',
      stderr: '',
    });
  });

  it('builds an image: its id alone on stdout, the story on stderr', async () => {
    const dirArg = join(EXAMPLES, 'scores-api');
    const r = await slipway('build', dirArg, '--service', 'scores-api', '--tag', 'first');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    expect(r.stderr).toContain(`scanning ${dirArg}\n`);
    expect(r.stderr).toMatch(/image for scores-api: 2 files, .*; tags first\n$/);

    const again = await slipway('build', dirArg, '--service', 'scores-api', '--json');
    expect(again.stderr).toBe('');
    expect(JSON.parse(again.stdout)).toMatchObject({
      imageId: r.stdout.trim(),
      files: 2,
      uploadedChunks: 0,
    });
  });

  it('lists hosts and releases as tables, or as JSON', async () => {
    expect(await slipway('hosts')).toEqual({
      code: 0,
      stdout: 'HOST  REGION  LABELS  ONLINE  RECEIVED (ORIGIN/RELAY/PEER)  SERVICES\n',
      stderr: '',
    });
    expect(await slipway('releases', 'scores-api', '--json')).toEqual({
      code: 0,
      stdout: '[]\n',
      stderr: '',
    });
  });

  it('adds users and scoped tokens, shows a secret once, says whose a token is, and revokes it', async () => {
    expect(await slipway('users', 'create', 'dana')).toEqual({
      code: 0,
      stdout:
        'created person dana; give it a token: slipway tokens create --user dana --role ROLE\n',
      stderr: '',
    });
    const made = await slipway(
      'tokens',
      'create',
      '--user',
      'dana',
      '--role',
      'deployer',
      '--env',
      'default',
      '--expires',
      '30d',
      '--json',
    );
    expect(made.code).toBe(0);
    const t = JSON.parse(made.stdout) as {
      id: string;
      token: string;
      expiresAt: string;
      grant: unknown;
    };
    expect(t.token).toMatch(/^slw_user_/);
    expect(t.grant).toEqual({ role: 'deployer', environment: 'default', service: null });
    expect(Date.parse(t.expiresAt) - Date.now()).toBeGreaterThan(29.9 * 86_400_000);
    expect(await slipway('--token', t.token, 'whoami')).toEqual({
      code: 0,
      stdout: `dana (token ${t.id}): deployer on default\nmay: read, fetch, build, deploy\n`,
      stderr: '',
    });
    const list = await slipway('tokens');
    expect(list.stdout).toMatch(new RegExp(`^${t.id} +dana +deployer +default `, 'm'));
    expect(list.stdout).not.toContain(t.token);
    const minted = await slipway(
      '--token',
      t.token,
      'tokens',
      'create',
      '--user',
      'dana',
      '--role',
      'admin',
    );
    expect(minted.code).toBe(1);
    expect(minted.stderr).toMatch(
      /of dana \(deployer on default\) does not hold the admin permission/,
    );
    expect(await slipway('tokens', 'revoke', t.id)).toMatchObject({
      code: 0,
      stdout: `revoked token ${t.id}\n`,
    });
    const after = await slipway('--token', t.token, 'whoami');
    expect(after.code).toBe(1);
    expect(after.stderr).toContain('unknown or revoked API token');
    const badRole = await slipway('tokens', 'create', '--user', 'dana', '--role', 'boss');
    expect(badRole.code).not.toBe(0);
    expect(badRole.stderr).toContain(
      'expected one of viewer, deployer, approver, operator, admin, not "boss"',
    );
  });

  it('fails a deployment that cannot be made, saying why', async () => {
    const r = await slipway('deploy', 'scores-api', '--image', 'no-such-tag', '--wait');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error: .*no-such-tag/);
  });

  describe('finding deployments again', () => {
    const UUID = /deployment ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\n/;
    let id: string;
    let agent: SlipwayClient;

    beforeAll(async () => {
      // A host that is online (it reported), so that a deployment can be made; nothing runs it.
      const joiner = new SlipwayClient({ server: url, token: joinToken });
      const { token } = await joiner.enroll({ name: 'cli-1', region: 'us-east', labels: {} });
      agent = new SlipwayClient({ server: url, token });
      await agent.agentReport({ services: [] });
    });

    it('deploy --wait prints the id while it runs; cancel takes a prefix of it', async () => {
      const deploy = start('deploy', 'scores-api', '--image', 'first', '--wait');
      const printed = await until(
        'deploy --wait to print the deployment id',
        () => UUID.exec(deploy.text.stdout) ?? undefined,
      );
      id = printed[1]!;
      // Still running: nothing stages it. Cancelled by the first 8 characters of its id.
      const cancel = await slipway('cancel', id.slice(0, 8));
      expect(cancel).toMatchObject({
        code: 0,
        stdout: `${id}: cancelled (cancelled while staging; nothing was activated)\n`,
      });
      expect(await deploy.done).toBe(1);
      expect(deploy.text.stdout).toBe(`deployment ${id}\n`);
      expect(deploy.text.stderr).toMatch(/^deploying scores-api v1 .*\n/);
    });

    it('finds a deployment by the short id `status` lists', async () => {
      const status = await slipway('status');
      expect(status.code).toBe(0);
      const listed =
        /recent deployments:\nID .*\n(\S+) +scores-api +default +deploy +v1 +cancelled /.exec(
          status.stdout,
        );
      expect(listed, status.stdout).not.toBeNull();
      const short = listed![1]!;
      expect(id.startsWith(short) && short.length < id.length).toBe(true);

      const one = await slipway('status', short);
      expect(one.code).toBe(0);
      expect(one.stdout).toContain(`deployment ${id}\n`);
      expect(one.stdout).toContain('state: cancelled');

      // The event stream of a deployment named by a prefix is that deployment's.
      const events: SlipwayEvent[] = [];
      const stop = new AbortController();
      const streamed = admin.streamEvents(
        short,
        (e) => {
          events.push(e);
          if (e.type === 'deployment.state' && e.data.state === 'cancelled') stop.abort();
        },
        stop.signal,
      );
      await until('the prefix’s event stream to reach the end', () => stop.signal.aborted);
      await streamed.catch(() => {});
      expect(events[0]).toMatchObject({ type: 'deployment.created', deploymentId: id });
      // The plan, counted: the hosts themselves are in the deployment, not in its first event.
      expect(events[0]!.data).toMatchObject({
        hosts: expect.any(Number) as number,
        batchCount: expect.any(Number) as number,
        skippedOffline: expect.any(Array) as unknown[],
        skippedOfflineCount: expect.any(Number) as number,
      });
      expect(new Set(events.map((e) => e.deploymentId))).toEqual(new Set([id]));
    });

    it('status --json holds what runs where and the recent deployments', async () => {
      const r = await slipway('status', '--json');
      expect(r.code).toBe(0);
      const doc = JSON.parse(r.stdout) as { status: unknown[]; deployments: { id: string }[] };
      expect(doc.status).toEqual([]);
      expect(doc.deployments.map((d) => d.id)).toEqual([id]);
    });

    it('refuses an ambiguous prefix, naming the deployments it matches', async () => {
      const row = (await store.deployments.get(id))!;
      const twins = [
        'abcd0001-0000-4000-8000-000000000001',
        'abcd0002-0000-4000-8000-000000000002',
      ];
      for (const twin of twins)
        await store.deployments.add({ ...row.deployment, id: twin }, row.imageId);

      const r = await slipway('status', 'abcd');
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(
        `error: deployment id prefix abcd is ambiguous: it matches ${twins.join(', ')}; give more characters of the id\n`,
      );
      expect((await slipway('status', 'abcd0002')).stdout).toContain(`deployment ${twins[1]}\n`);
      expect((await slipway('cancel', 'ABCD0001')).stdout).toMatch(`${twins[0]}: cancelled`);

      expect((await slipway('status', 'abc')).stderr).toMatch(
        /^error: deployment id prefix "abc" is too short: give at least 4 characters/,
      );
      expect((await slipway('status', 'ffff')).stderr).toMatch(
        /^error: no deployment "ffff": give a deployment id or a unique prefix of one/,
      );
      // Only a prefix: a LIKE pattern's wildcards match nothing.
      expect((await slipway('status', 'abcd%')).code).toBe(1);
      expect((await slipway('status', '____')).code).toBe(1);
    });

    it('lists deployments, of one service or environment', async () => {
      const row = (await store.deployments.get(id))!;
      await store.deployments.add(
        {
          ...row.deployment,
          id: 'ee000000-0000-4000-8000-000000000000',
          service: 'securities-api',
          environment: 'staging',
        },
        row.imageId,
      );

      const all = await slipway('deployments');
      expect(all.code).toBe(0);
      const lines = all.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^ID +SERVICE +ENV +KIND +RELEASE +STATE +STARTED \(UTC\) +TOOK$/);
      expect(lines).toHaveLength(5);
      expect(all.stdout).toMatch(
        /\nee000000-000 +securities-api +staging +deploy +v1 +cancelled +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +\S+s\n/,
      );

      const scores = await slipway('deployments', '--service', 'scores-api', '--json');
      const listed = JSON.parse(scores.stdout) as { id: string; service: string }[];
      expect(listed.map((d) => d.service)).toEqual(['scores-api', 'scores-api', 'scores-api']);
      expect(listed.map((d) => d.id)).toContain(id);

      const staging = await slipway('deployments', '--env', 'staging');
      expect(staging.stdout.trimEnd().split('\n')).toHaveLength(2);
      expect(staging.stdout).toContain('ee000000-000  securities-api');
      expect(
        (await slipway('deployments', '--service', 'securities-api', '--env', 'default')).stdout,
      ).toBe('no deployments\n');
      expect((await slipway('deployments', '--limit', '0')).code).toBe(1);
    });

    it('--wait says a host had the release on disk already, instead of `fetching`', async () => {
      // The host reports v1 on disk (a release staged before, or the one a rollback returns to).
      await agent.agentReport({
        services: [
          { service: 'scores-api', staged: [1], stagingFailed: null, fetching: null, active: null },
        ],
      });
      const r = await slipway('stage', 'scores-api', '--image', 'first', '--wait');
      expect(r.code).toBe(0);
      expect(r.stderr).toContain('\n  cli-1  v1 already on disk\n');
      expect(r.stderr).not.toContain('fetching');
      expect(r.stderr).toMatch(/\nsucceeded in \d+\.\ds\n$/);
    });
  });
});
