/**
 * An environment's policy at deployment time, on an injected clock: deploy windows and freezes
 * refuse a deploy saying when it may start, break-glass overrides them for those allowed to (and
 * is recorded), and promotion carries the image that succeeded in one environment to the next.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlipwayClient } from '../src/api/index.js';
import { tinyImage } from './helpers/tiny-image.js';
import { startInProcessServer, type InProcessServer } from './helpers/in-process-server.js';

/** Wednesday 2026-12-09, noon in New York: market hours. */
let clock = Date.parse('2026-12-09T17:00:00Z');

describe('environment policy', () => {
  let s: InProcessServer;
  let deployer: SlipwayClient;
  let prodHost: SlipwayClient;
  const images: Record<string, string> = {};

  beforeAll(async () => {
    s = await startInProcessServer({ now: () => clock });
    await s.admin.applyServiceMap({
      services: { pricing: { run: 'node server.js' } },
      environments: {
        staging: { hosts: { labels: { tier: 'staging' } } },
        prod: {
          hosts: { labels: { tier: 'prod' } },
          policy: {
            windows: [
              { days: 'mon-fri', from: '17:00', to: '08:00', timezone: 'America/New_York' },
            ],
            freezes: [{ from: '2026-12-24', to: '2026-12-28', reason: 'year-end freeze' }],
            promoteFrom: 'staging',
          },
        },
      },
    });
    await s.admin.createUser({ name: 'dana' });
    deployer = new SlipwayClient({
      server: s.url,
      token: (await s.admin.createToken({ user: 'dana', role: 'deployer' })).token,
    });
    for (const tier of ['staging', 'prod']) {
      const h = await s.joiner.enroll({ name: `${tier}-1`, region: 'r', labels: { tier } });
      const host = new SlipwayClient({ server: s.url, token: h.token });
      await host.agentReport({ services: [] });
      if (tier === 'prod') prodHost = host;
    }
    for (const v of ['v1', 'v2']) images[v] = await tinyImage(s.admin, s.dir, 'pricing', v, [v]);
    // v1 succeeded in staging (as the orchestrator would have recorded it).
    const release = await s.store.releases.add({
      service: 'pricing',
      imageId: images.v1!,
      environment: 'staging',
      config: (await s.admin.getServiceMap()).map.services.pricing,
    });
    await s.store.deployments.add(
      {
        id: randomUUID(),
        service: 'pricing',
        environment: 'staging',
        kind: 'deploy',
        release: release.version,
        state: 'succeeded',
        currentBatch: 0,
        batchCount: 1,
        failureThreshold: 0,
        hosts: [],
        deadline: null,
        reason: null,
        cancelRequested: false,
      },
      images.v1!,
    );
  });
  afterAll(() => s.stop());

  /** Staging's last successful release to prod, as `slipway promote` asks for it. */
  const toProd = { service: 'pricing', environment: 'prod', promoteFrom: 'staging' } as const;

  const refusal = (p: Promise<unknown>) =>
    p.then(
      () => 'deployed',
      (e: Error & { code?: string }) => `${e.code}: ${e.message}`,
    );

  it('shows in a dry run what a deploy would do and every policy that would refuse it, changing nothing', async () => {
    const before = {
      deployments: (await s.admin.listDeployments()).length,
      releases: (await s.admin.listReleases('pricing')).length,
    };
    const p = await deployer.planDeployment({
      service: 'pricing',
      environment: 'prod',
      image: 'v2',
    });
    expect(p.deployment.hosts.map((h) => [h.hostName, h.batch])).toEqual([['prod-1', 0]]);
    expect(p.refusals).toEqual([
      expect.stringMatching(/^prod takes no deployment now: outside the deploy windows/),
      expect.stringMatching(/^prod takes only releases that succeeded in staging first/),
    ]);
    expect({
      deployments: (await s.admin.listDeployments()).length,
      releases: (await s.admin.listReleases('pricing')).length,
    }).toEqual(before);
    // Nothing refuses a promotion of what succeeded, but the window.
    const promoted = await deployer.planDeployment(toProd);
    expect(promoted.refusals).toHaveLength(1);
    expect(promoted.deployment.imageId).toBe(images.v1);
  });

  it('refuses a deploy outside the windows, saying when it may start; break-glass overrides it', async () => {
    expect(await refusal(deployer.createDeployment(toProd))).toBe(
      'POLICY: prod takes no deployment now: outside the deploy windows (mon,tue,wed,thu,fri 17:00-08:00 America/New_York); next allowed 2026-12-09T22:00:00.000Z (or --break-glass --reason "…", for those allowed to)',
    );
    // A deployer may not break the glass; an admin may, and it is on record.
    expect(
      await refusal(
        deployer.createDeployment({
          ...toProd,
          breakGlass: { reason: 'fix' },
        }),
      ),
    ).toMatch(/^FORBIDDEN: .* does not hold the break-glass permission on prod\/pricing/);
    const d = await s.admin.createDeployment({
      ...toProd,
      breakGlass: { reason: 'prices stale, fix now' },
    });
    expect(d.imageId).toBe(images.v1);
    const events: string[] = [];
    const stop = new AbortController();
    await s.admin
      .streamEvents(
        d.id,
        (e) => {
          events.push(`${e.type} ${JSON.stringify(e.data.reason ?? '')}`);
          if (e.type === 'deployment.break-glass') stop.abort();
        },
        stop.signal,
      )
      .catch(() => {});
    expect(events).toContain('deployment.break-glass "prices stale, fix now"');
    const audited = (await s.admin.listAudit({ environment: 'prod', limit: 100 })).find(
      (e) => e.target.deployment === d.id,
    );
    expect(audited?.args).toMatchObject({
      body: { breakGlass: { reason: 'prices stale, fix now' } },
    });
    await s.admin.cancelDeployment(d.id);
  });

  it('lets a deploy through in a window, but not one that skipped staging, nor in a freeze', async () => {
    clock = Date.parse('2026-12-09T23:00:00Z'); // Wednesday 18:00 in New York
    expect(
      await refusal(
        deployer.createDeployment({ service: 'pricing', environment: 'prod', image: 'v2' }),
      ),
    ).toMatch(
      /^POLICY: prod takes only releases that succeeded in staging first .* deploy it to staging, then: slipway promote pricing --from staging --to prod$/,
    );
    await expect(
      deployer.createDeployment({
        ...toProd,
        image: 'v1',
      }),
    ).rejects.toMatchObject({ code: 'INVALID' });
    clock = Date.parse('2026-12-24T23:00:00Z');
    expect(await refusal(deployer.createDeployment(toProd))).toBe(
      'POLICY: prod takes no deployment now: frozen until 2026-12-28T00:00:00.000Z: year-end freeze; next allowed 2026-12-28T22:00:00.000Z (or --break-glass --reason "…", for those allowed to)',
    );
    clock = Date.parse('2026-12-28T23:00:00Z'); // Monday 18:00 in New York
    await prodHost.agentReport({ services: [] }); // online at the new time
    const d = await deployer.createDeployment(toProd);
    expect(d.imageId).toBe(images.v1);
    expect(d.environment).toBe('prod');
  });
});
