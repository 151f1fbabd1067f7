/**
 * Two server processes on one PostgreSQL: one orchestrator leads, the other stands by, and when
 * the leader is killed mid-deployment the other takes the lead and carries the deployment on to
 * its end. The agents report to the replica that stands by, so the leader works only from what
 * the other replica writes to the database.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { SlipwayClient, type DeploymentView } from '../src/api/index.js';
import { killProcess, LocalFleet, type FleetProcess } from './harness/local-fleet.js';
import { buildExample, TEST_MAP, waitForEnd } from './helpers/cluster.js';
import { freshPostgresUrl } from './helpers/fresh-postgres.js';
import { until } from './helpers/until.js';

const LEADING = 'orchestrator: leading';
const STANDING_BY = 'orchestrator: another server leads; standing by';

describe('the orchestrator’s leader killed mid-deployment', () => {
  let fleet: LocalFleet | undefined;
  let dir = '';
  afterEach(async () => {
    await fleet?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const logOf = (p: FleetProcess) => readFile(p.logFile, 'utf8').catch(() => '');

  /** An image of an example service with `release` as its release.json. */
  const build = (client: SlipwayClient, service: string, release: Record<string, string>) =>
    buildExample(client, join(dir, 'src', `${service}-${release.version}`), service, release);

  it('is replaced by the other replica, which finishes the deployment', async () => {
    dir = await mkdtemp(join(tmpdir(), 'slipway-failover-'));
    const db = await freshPostgresUrl();
    fleet = new LocalFleet(dir);
    await fleet.startServer({ databaseUrl: db });
    const second = await fleet.startReplica(db);
    const servers = [
      { process: fleet.server!, url: fleet.url },
      { process: second as FleetProcess, url: second.url },
    ];
    // One leads, the other says once that it stands by.
    const [leader, standby] = await until(
      'one replica to lead and the other to stand by',
      async () => {
        const logs = await Promise.all(servers.map((s) => logOf(s.process)));
        const i = logs.findIndex((l) => l.includes(LEADING));
        return i >= 0 && logs[1 - i]!.includes(STANDING_BY) && !logs[1 - i]!.includes(LEADING)
          ? [servers[i]!, servers[1 - i]!]
          : undefined;
      },
    );

    // Everything goes through the replica that will survive: the agents, the images (each
    // server's origin keeps the chunks uploaded to it), the deployments.
    const client = new SlipwayClient({ server: standby.url, token: fleet.adminToken });
    const names = ['a1', 'a2', 'a3'];
    for (const n of names) fleet.startAgent({ name: n, region: 'r1', server: standby.url });
    await until('the hosts online', async () => {
      const online = (await client.listHosts()).filter((h) => h.online).map((h) => h.name);
      return names.every((n) => online.includes(n));
    });
    await client.applyServiceMap(parseYaml(TEST_MAP.replace('batchSize: 2', 'batchSize: 1')));
    const waitEnd = (d: DeploymentView) => waitForEnd(client, d.id, 120_000);

    // The leader drives a deployment whose agents report only to the other replica.
    const v1 = await build(client, 'scores-api', { version: '1', model: 'momentum' });
    const first = await client.createDeployment({ service: 'scores-api', image: v1 });
    const firstEnd = await waitEnd(first);
    expect(firstEnd.state, firstEnd.reason ?? undefined).toBe('succeeded');
    expect(await logOf(standby.process)).not.toContain(LEADING);

    const v2 = await build(client, 'scores-api', {
      version: '2',
      model: 'momentum',
      warmupMs: '800',
    });
    const d = await client.createDeployment({ service: 'scores-api', image: v2 });
    await until('the first batch to activate', async () => {
      const now = await client.getDeployment(d.id);
      return now.state === 'activating' ? now : undefined;
    });
    await killProcess(leader.process);

    await until('the other replica to take the lead', async () =>
      (await logOf(standby.process)).includes(LEADING),
    );
    const final = await waitEnd(d);
    expect(final.state, final.reason ?? undefined).toBe('succeeded');
    expect(final.hosts.map((h) => h.state)).toEqual(['healthy', 'healthy', 'healthy']);
    const rows = await client.status();
    expect(rows.map((r) => r.active)).toEqual([2, 2, 2]);
  }, 240_000);
});
