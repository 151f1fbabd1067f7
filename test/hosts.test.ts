/**
 * Hosts and the join token: a name that is enrolled cannot be taken over with it; an operator
 * removes a host (its credential, its goals) first, and a deployment stops waiting for it.
 */
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlipwayClient } from '../src/api/index.js';
import { buildImage, runCli, type ProcessCommands } from '../src/cli/index.js';
import type { Store } from '../src/store/index.js';
import { EXAMPLES, TEST_MAP } from './helpers/cluster.js';
import { startInProcessServer, type InProcessServer } from './helpers/in-process-server.js';
import { until } from './helpers/until.js';

describe('hosts', () => {
  let s: InProcessServer;
  let store: Store;
  let url: string;
  let admin: SlipwayClient;
  let joiner: SlipwayClient;
  let adminToken: string;

  beforeAll(async () => {
    s = await startInProcessServer({ tickMs: 100 });
    ({ store, url, admin, joiner, adminToken } = s);
  });
  afterAll(() => s.stop());

  async function slipway(...args: string[]) {
    const text = { stdout: '', stderr: '' };
    const none: ProcessCommands = {
      server: () => Promise.reject(new Error('no processes here')),
      agent: () => Promise.reject(new Error('no processes here')),
      stopServices: () => Promise.reject(new Error('no processes here')),
      migrateDatabase: () => Promise.reject(new Error('no processes here')),
    };
    const code = await runCli(
      ['node', 'slipway', '--server', url, '--token', adminToken, ...args],
      none,
      {
        stdout: { write: (s: string) => (text.stdout += s) },
        stderr: { write: (s: string) => (text.stderr += s) },
      },
    );
    return { code, ...text };
  }

  it('refuses to enroll a name that is taken: the real host keeps its credential, region and labels', async () => {
    const real = await joiner.enroll({ name: 'host-b', region: 'us-east', labels: { role: 'db' } });
    const agent = new SlipwayClient({ server: url, token: real.token });
    await agent.agentReport({ services: [] });

    const takeover = joiner.enroll({ name: 'host-b', region: 'eu-west', labels: {} });
    await expect(takeover).rejects.toMatchObject({
      code: 'CONFLICT',
      message: expect.stringContaining('slipway hosts remove host-b'),
    });
    const raw = await fetch(`${url}/v1/agent/enroll`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${(joiner as unknown as { token: string }).token}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ name: 'host-b', region: 'eu-west' }),
    });
    expect(raw.status).toBe(409);

    // The real host's credential still works, and nothing about it changed.
    const goal = await agent.agentGoal(-1, 0);
    expect(goal.services).toEqual([]);
    const hosts = await admin.listHosts();
    expect(hosts.filter((h) => h.name === 'host-b')).toMatchObject([
      { id: real.hostId, region: 'us-east', labels: { role: 'db' } },
    ]);
  });

  it('removes a host: its credential stops working at once, and its name may enroll again', async () => {
    const old = await joiner.enroll({ name: 'host-c', region: 'r1', labels: {} });
    const oldAgent = new SlipwayClient({ server: url, token: old.token });
    await oldAgent.agentGoal(-1, 0);

    const r = await slipway('hosts', 'remove', 'host-c');
    expect(r).toEqual({ code: 0, stdout: 'removed host host-c\n', stderr: '' });
    await expect(oldAgent.agentGoal(-1, 0)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    expect((await admin.listHosts()).map((h) => h.name)).not.toContain('host-c');
    await expect(admin.removeHost('host-c')).rejects.toMatchObject({ code: 'NOT_FOUND' });

    const fresh = await joiner.enroll({ name: 'host-c', region: 'r2', labels: {} });
    expect(fresh.hostId).not.toBe(old.hostId);
    const newAgent = new SlipwayClient({ server: url, token: fresh.token });
    expect((await newAgent.agentGoal(-1, 0)).services).toEqual([]);

    const events = await store.events.after(0, null, 1000);
    expect(events.find((e) => e.type === 'host.removed')).toMatchObject({
      actor: 'user:admin',
      data: { host: 'host-c', hostId: old.hostId },
    });
    // Only the admin removes hosts; `slipway hosts` still lists them.
    await expect(newAgent.removeHost('host-b')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(joiner.removeHost('host-b')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const list = await slipway('hosts');
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^host-c +r2 /m);
  });

  it('names a relay at enrollment or by the operator, never by the join token', async () => {
    await joiner.enroll({ name: 'relay-1', region: 'r9', labels: {}, relay: true });
    expect((await admin.listHosts()).find((h) => h.name === 'relay-1')?.relay).toBe(true);
    expect(await slipway('hosts', 'relay', 'relay-1', 'off')).toEqual({
      code: 0,
      stdout: 'relay-1 (r9): not a relay\n',
      stderr: '',
    });
    expect((await admin.listHosts()).find((h) => h.name === 'relay-1')?.relay).toBe(false);
    const bad = await slipway('hosts', 'relay', 'relay-1', 'yes');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('expected on or off');
    await expect(joiner.setHostRelay('relay-1', true)).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
  });

  it('a deployment stops waiting for a host removed while it runs', async () => {
    await admin.applyServiceMap(parseYaml(TEST_MAP));
    const a = await joiner.enroll({ name: 'dep-a', region: 'r1', labels: {} });
    const b = await joiner.enroll({ name: 'dep-b', region: 'r1', labels: {} });
    // Fake agents: online, but they never stage anything.
    for (const t of [a.token, b.token]) {
      await new SlipwayClient({ server: url, token: t }).agentReport({ services: [] });
    }
    const image = (
      await buildImage(admin, join(EXAMPLES, 'scores-api'), 'scores-api', [], () => {})
    ).imageId;
    // Only these two hosts: remove the others enrolled above so they are not targets.
    for (const h of await admin.listHosts()) {
      if (!h.name.startsWith('dep-')) await admin.removeHost(h.name);
    }
    const d = await admin.createDeployment({ service: 'scores-api', image });
    expect(d.hosts.map((h) => h.hostName).sort()).toEqual(['dep-a', 'dep-b']);
    await admin.removeHost('dep-b');
    // The staging deadline is 15 minutes: without knowing about removal it would still wait.
    const ended = await until('the deployment ends', async () => {
      const now = await admin.getDeployment(d.id);
      return now.state === 'staging' ? undefined : now;
    });
    expect(ended.state).toBe('failed');
    expect(ended.hosts.find((h) => h.hostName === 'dep-b')?.detail).toMatch(/removed/);
    expect(await store.goals.ofHost(b.hostId)).toEqual([]);
  });
  it('lists hosts a page at a time by name, of one region if asked, within bounds', async () => {
    const names = Array.from({ length: 7 }, (_, i) => `page-${i}`);
    for (const [i, name] of names.entries())
      await joiner.enroll({ name, region: i % 2 ? 'page-odd' : 'page-even', labels: {} });
    const everyone = (await admin.listHosts()).map((h) => h.name);
    expect(everyone).toEqual([...everyone].sort());
    expect(everyone).toEqual(expect.arrayContaining(names));

    // Pages of three from the first of them on: each starts after the last of the one before.
    const seen: string[] = [];
    let after: string | undefined = 'page-';
    for (let pages = 0; after !== undefined; pages++) {
      expect(pages).toBeLessThan(5);
      const page = await admin.listHostsPage({ after, limit: 3 });
      expect(page.hosts.length).toBeLessThanOrEqual(3);
      seen.push(...page.hosts.map((h) => h.name).filter((n) => n.startsWith('page-')));
      after = page.next ?? undefined;
    }
    expect(seen).toEqual(names);
    expect((await admin.listHosts({ region: 'page-odd' })).map((h) => h.name)).toEqual([
      'page-1',
      'page-3',
      'page-5',
    ]);
    const odd = await admin.listHostsPage({ region: 'page-odd', limit: 2 });
    expect(odd.hosts.map((h) => h.name)).toEqual(['page-1', 'page-3']);
    expect(odd.next).toBe('page-3');

    // Out of bounds: refused with what is wrong, nothing listed.
    for (const query of ['limit=0', 'limit=2001', 'after=..%2F..', 'limit=ten']) {
      const res = await fetch(`${url}/v1/hosts?${query}`, {
        headers: { authorization: `Bearer ${adminToken}` },
      });
      expect(res.status, query).toBe(400);
      expect(JSON.stringify(await res.json()), query).toMatch(/limit|after/);
    }
  });

  it('pages what runs where by host, of one service or region if asked', async () => {
    const running = (service: string, version: number) => ({
      service,
      staged: [version],
      stagingFailed: null,
      fetching: null,
      active: { version, state: 'healthy' as const, detail: null, port: null, pid: null },
    });
    const reports: [string, string, ReturnType<typeof running>[]][] = [
      ['st-1', 'st-a', [running('s1', 1), running('s2', 4)]],
      ['st-2', 'st-b', [running('s1', 1)]],
      ['st-3', 'st-a', [running('s2', 4)]],
    ];
    for (const [name, region, services] of reports) {
      const { token } = await joiner.enroll({ name, region, labels: {} });
      await new SlipwayClient({ server: url, token }).agentReport({ services });
    }
    const pairs = (rows: { host: string; service: string }[]) =>
      rows.filter((r) => r.host.startsWith('st-')).map((r) => `${r.host} ${r.service}`);
    expect(pairs(await admin.status())).toEqual(['st-1 s1', 'st-1 s2', 'st-2 s1', 'st-3 s2']);
    expect(pairs(await admin.status({ service: 's1' }))).toEqual(['st-1 s1', 'st-2 s1']);
    expect(pairs(await admin.status({ region: 'st-a' }))).toEqual([
      'st-1 s1',
      'st-1 s2',
      'st-3 s2',
    ]);
    // A page is a number of hosts, each with all its rows.
    const res = await fetch(`${url}/v1/status?after=st-0&limit=1`, {
      headers: { authorization: `Bearer ${adminToken}` },
    });
    expect(await res.json()).toMatchObject({
      rows: [
        { host: 'st-1', service: 's1' },
        { host: 'st-1', service: 's2' },
      ],
      next: 'st-1',
    });
    const tooMany = await fetch(`${url}/v1/status?limit=2001`, {
      headers: { authorization: `Bearer ${adminToken}` },
    });
    expect(tooMany.status).toBe(400);
  });
});
