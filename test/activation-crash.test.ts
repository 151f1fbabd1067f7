/**
 * A release whose process crashes as it starts: `deploy --wait` fails with the exit and the
 * process's last output as soon as it exits, not at the end of the health deadline, and the
 * host returns to the release it ran. Real agent processes, an in-process server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { runCli, type ProcessCommands } from '../src/cli/index.js';
import { TestCluster } from './helpers/cluster.js';
import { until } from './helpers/until.js';

const AGENTS = [
  { name: 'a1', region: 'r1' },
  { name: 'a2', region: 'r1' },
];

/** A health deadline far longer than a crash takes to be seen: what a wait for it would show. */
const HEALTH_DEADLINE_S = 40;

const serviceMap = (run: string) => `
regions: [r1]
services:
  scores-api:
    run: ${run}
    port: dynamic
    health: { http: /healthz, interval: 100ms, timeout: 1s, deadline: ${HEALTH_DEADLINE_S}s }
    rollout: { batchSize: 1 }
`;

const noProcesses: ProcessCommands = {
  server: () => Promise.reject(new Error('no server process in this test')),
  agent: () => Promise.reject(new Error('no agent process in this test')),
  stopServices: () => Promise.reject(new Error('no processes here')),
  migrateDatabase: () => Promise.reject(new Error('no processes here')),
};

describe('a release whose process exits during activation', () => {
  let c: TestCluster;
  beforeAll(async () => {
    c = await TestCluster.start(AGENTS, serviceMap('[node, server.js]'));
  });
  afterAll(async () => {
    await c?.stop();
  });

  async function slipway(...args: string[]) {
    const globals = ['--server', c.fleet.url, '--token', c.fleet.adminToken];
    let output = '';
    const write = (s: string) => (output += s);
    const code = await runCli(['node', 'slipway', ...globals, ...args], noProcesses, {
      stdout: { write },
      stderr: { write },
    });
    return { code, output };
  }

  it('fails deploy --wait with its exit code and last output, and the old release serves on', async () => {
    const v1 = await c.build('scores-api', { version: '1', model: 'momentum' });
    expect((await c.deploy('scores-api', v1)).state).toBe('succeeded');

    await c.client.applyServiceMap(parseYaml(serviceMap('"echo starting; exit 3"')));
    const v2 = await c.build('scores-api', { version: '2', model: 'momentum' });
    const started = Date.now();
    const r = await slipway('deploy', 'scores-api', '--image', v2, '--wait');
    const took = Date.now() - started;

    const crash = 'exited with code 3 during activation (last output: "starting")';
    expect(r.code, r.output).not.toBe(0);
    // The host's failure and the deployment's end both say why, as the process ended.
    expect(r.output).toMatch(new RegExp(`a1 +FAILED: ${escape(crash)}\\n`));
    expect(r.output).toMatch(new RegExp(`^rolled back in .*: .*${escape(crash)}$`, 'm'));
    expect(r.output).not.toContain('not healthy after');
    // Told well before the health deadline (a generous bound: a crash is seen in about 1 s).
    expect(took).toBeLessThan(HEALTH_DEADLINE_S * 1000);

    const [d] = await c.client.listDeployments({ service: 'scores-api' });
    expect(d).toMatchObject({ release: 2, state: 'rolled_back' });
    expect(d!.reason).toContain(crash);
    const events = await c.store.events.after(0, d!.id);
    expect(events.some((e) => e.type === 'hosts.state' && e.data.detail === crash)).toBe(true);

    // The host that tried the release is back on the old one; the other never left it.
    const rows = await until('both hosts on v1 and healthy', async () => {
      const all = (await c.client.status()).filter((s) => s.service === 'scores-api');
      return all.every((s) => s.active === 1 && s.state === 'healthy') && all.length === 2
        ? all
        : undefined;
    });
    expect(rows).toHaveLength(2);
    for (const a of AGENTS) {
      expect(await c.fetchFrom(a.name, 'scores-api', '/scores')).toMatchObject({ version: '1' });
    }
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
