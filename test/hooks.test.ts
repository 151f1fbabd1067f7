/**
 * Lifecycle hooks with real agents: `beforeActivate` runs in the release's directory with the
 * service's environment before anything stops, and when it fails the running release serves on,
 * untouched (same process); a failing `validate` fails the health check; both roll back.
 */
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from './helpers/cluster.js';
import { until } from './helpers/until.js';

const AGENTS = [
  { name: 'a1', region: 'r1' },
  { name: 'a2', region: 'r1' },
];

const map = (hooks: string) => `
regions: [r1]
services:
  scores-api:
    run: [node, server.js]
    port: dynamic
    health: { http: /healthz, interval: 100ms, timeout: 1s, deadline: 6s }
    rollout: { batchSize: 2 }
    hooks: ${hooks}
`;

describe('lifecycle hooks', () => {
  let c: TestCluster;
  beforeAll(async () => {
    c = await TestCluster.start(AGENTS, map('{}'));
  });
  afterAll(async () => {
    await c?.stop();
  });

  const pids = async () =>
    (await c.client.listHosts())
      .map((h) => [h.name, h.services.find((s) => s.service === 'scores-api')?.active?.pid])
      .sort();

  it('runs beforeActivate and afterActivate around an activation, in the release, with its environment', async () => {
    await c.client.applyServiceMap(
      parseYaml(
        map(
          `{ beforeActivate: [sh, -c, 'echo "before $SLIPWAY_RELEASE on $SLIPWAY_HOST in $(basename $PWD)"'], afterActivate: 'echo after' }`,
        ),
      ),
    );
    const img = await c.build('scores-api', { version: '1', model: 'mean-reversion' });
    const d = await c.deploy('scores-api', img);
    expect(d.state, d.reason ?? undefined).toBe('succeeded');
    // afterActivate runs once the release is said healthy: its line may follow the deployment's end.
    const log = await until('afterActivate to have run', async () => {
      const text = await c.agentLog('a1');
      return text.includes('scores-api: v1: afterActivate ran: after') && text;
    });
    expect(log).toContain('scores-api: v1: beforeActivate ran: before v1 on a1 in v1');
  });

  it('leaves the running release serving, the same process, when beforeActivate fails', async () => {
    const before = await pids();
    await c.client.applyServiceMap(
      parseYaml(map(`{ beforeActivate: [sh, -c, 'echo migration refused >&2; exit 3'] }`)),
    );
    const img = await c.build('scores-api', { version: '2', model: 'momentum' });
    const d = await c.deploy('scores-api', img);
    expect(d.state).toBe('rolled_back');
    expect(d.reason).toContain('beforeActivate exited 3: migration refused');
    expect(await pids()).toEqual(before);
    for (const a of AGENTS)
      expect(await c.fetchFrom(a.name, 'scores-api', '/scores')).toMatchObject({ version: '1' });
  });

  it('counts a failing validate as a failed health check', async () => {
    await c.client.applyServiceMap(
      parseYaml(map(`{ validate: [sh, -c, 'echo "$SLIPWAY_HOOK: scores look wrong"; exit 1'] }`)),
    );
    const img = await c.build('scores-api', { version: '3', model: 'momentum' });
    const d = await c.deploy('scores-api', img);
    expect(d.state).toBe('rolled_back');
    expect(d.reason).toContain('validate exited 1: validate: scores look wrong');
    for (const a of AGENTS)
      expect(await c.fetchFrom(a.name, 'scores-api', '/scores')).toMatchObject({ version: '1' });
  });
});
