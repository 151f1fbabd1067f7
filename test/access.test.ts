/**
 * People, machine accounts and their tokens through the API: a grant's scope holds, expired and
 * revoked tokens are refused at once, only an admin mints tokens, and the server never loses its
 * last admin token. (Every route × every role is in authz.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlipwayClient } from '../src/api/index.js';
import { startInProcessServer, type InProcessServer } from './helpers/in-process-server.js';

describe('users and tokens', () => {
  let s: InProcessServer;
  let admin: SlipwayClient;
  const as = (token: string) => new SlipwayClient({ server: s.url, token });

  beforeAll(async () => {
    s = await startInProcessServer();
    admin = s.admin;
    await admin.applyServiceMap({
      services: { pricing: { run: 'node server.js' }, scores: { run: 'node server.js' } },
      environments: {
        staging: { hosts: { labels: { tier: 'staging' } } },
        prod: { hosts: { labels: { tier: 'prod' } } },
      },
    });
    await admin.createUser({ name: 'dana' });
    await admin.createUser({ name: 'ci-pricing', kind: 'machine' });
  });
  afterAll(() => s.stop());

  it('holds a deployer to its environment and service', async () => {
    const staging = as(
      (await admin.createToken({ user: 'dana', role: 'deployer', environment: 'staging' })).token,
    );
    const pricingProd = as(
      (
        await admin.createToken({
          user: 'ci-pricing',
          role: 'deployer',
          environment: 'prod',
          service: 'pricing',
        })
      ).token,
    );
    const deploy = (c: SlipwayClient, service: string, environment: string) =>
      c
        .createDeployment({ service, environment, image: 'no-such-tag' })
        .catch((e: Error & { code?: string }) => e);
    // Out of scope: refused, saying whose token and what it holds.
    const refused = await deploy(staging, 'pricing', 'prod');
    expect(refused).toMatchObject({ code: 'FORBIDDEN' });
    expect((refused as Error).message).toMatch(
      /of dana \(deployer on staging\) does not hold the deploy permission on prod\/pricing/,
    );
    expect(await deploy(pricingProd, 'scores', 'prod')).toMatchObject({ code: 'FORBIDDEN' });
    // In scope: let through, to fail on what there is to deploy.
    expect(await deploy(staging, 'scores', 'staging')).toMatchObject({ code: 'NOT_FOUND' });
    expect(await deploy(pricingProd, 'pricing', 'prod')).toMatchObject({ code: 'NOT_FOUND' });
    // Reading is not scoped; minting tokens and adding users is an admin's.
    expect((await staging.listDeployments()).length).toBe(0);
    await expect(staging.createToken({ user: 'dana', role: 'admin' })).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
    await expect(staging.createUser({ name: 'mallory' })).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
    expect((await staging.whoami()).grant).toEqual({
      role: 'deployer',
      environment: 'staging',
      service: null,
    });
  });

  it('refuses an expired token and a revoked one at once, and lists tokens without their secrets', async () => {
    const short = await admin.createToken({ user: 'dana', role: 'viewer', expiresInMs: 300 });
    const kept = await admin.createToken({ user: 'dana', role: 'viewer' });
    expect(await as(short.token).whoami()).toMatchObject({ user: 'dana', tokenId: short.id });
    expect(await as(kept.token).whoami()).toMatchObject({ tokenId: kept.id });
    await new Promise((r) => setTimeout(r, 400));
    await expect(as(short.token).whoami()).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
      message: expect.stringMatching(/expired at/),
    });
    await admin.revokeToken(kept.id);
    // Cached a moment ago, refused now: the revocation dropped it.
    await expect(as(kept.token).whoami()).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    const listed = await admin.listTokens();
    expect(listed.map((t) => t.id)).toContain(short.id);
    expect(listed.map((t) => t.id)).not.toContain(kept.id);
    expect(JSON.stringify(listed)).not.toContain(short.token);
  });

  it('refuses grants that cannot be meant, saying why', async () => {
    const bad = (body: Parameters<SlipwayClient['createToken']>[0]) =>
      admin.createToken(body).catch((e: Error & { code?: string }) => `${e.code}: ${e.message}`);
    expect(await bad({ user: 'dana', role: 'admin', environment: 'prod' })).toMatch(
      /^INVALID: an admin grant covers every environment/,
    );
    expect(await bad({ user: 'dana', role: 'deployer', service: 'pricing' })).toMatch(
      /^INVALID: .*give --env with --service/,
    );
    expect(await bad({ user: 'dana', role: 'deployer', environment: 'qa' })).toMatch(
      /^NOT_FOUND: environment "qa" not found: one of prod, staging/,
    );
    expect(
      await bad({ user: 'dana', role: 'deployer', environment: 'prod', service: 'nope' }),
    ).toMatch(/^NOT_FOUND: service "nope"/);
    expect(await bad({ user: 'nobody', role: 'viewer' })).toMatch(
      /^NOT_FOUND: no user "nobody": add it first/,
    );
    await expect(admin.createUser({ name: 'dana' })).rejects.toMatchObject({ code: 'CONFLICT' });
    const agent = await s.joiner.enroll({ name: 'tok-agent', region: 'r', labels: {} });
    await expect(as(agent.token).whoami()).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('lets an agent read and report only for its own host', async () => {
    const a = await s.joiner.enroll({ name: 'own-a', region: 'r', labels: {} });
    const b = await s.joiner.enroll({ name: 'own-b', region: 'r', labels: {} });
    const agentA = as(a.token);
    // Its report is filed under its own host, whatever it sends: the host comes from the token.
    await agentA.agentReport({
      services: [
        { service: 'pricing', staged: [1], stagingFailed: null, fetching: null, active: null },
      ],
    });
    const hosts = await admin.listHosts();
    const byName = (n: string) => hosts.find((h) => h.name === n)!;
    expect(byName('own-a').services.map((x) => x.service)).toEqual(['pricing']);
    expect(byName('own-b').services).toEqual([]);
    // Its goal is its own: naming another host in the query changes nothing.
    const res = await fetch(`${s.url}/v1/agent/goal?waitMs=0&hostId=${b.hostId}`, {
      headers: { authorization: `Bearer ${a.token}` },
    });
    expect(await res.json()).toEqual(await agentA.agentGoal(-1, 0));
    // And it reads nothing else: not the host list, not another user's things.
    await expect(agentA.listHosts()).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('never lets the last admin token go; removing a user revokes its tokens', async () => {
    await expect(admin.revokeToken('admin')).rejects.toMatchObject({
      code: 'CONFLICT',
      message: expect.stringMatching(/would leave no admin token/),
    });
    await expect(admin.removeUser('admin')).rejects.toMatchObject({ code: 'CONFLICT' });
    await admin.createUser({ name: 'root2' });
    const second = await admin.createToken({ user: 'root2', role: 'admin' });
    const root2 = as(second.token);
    await root2.revokeToken('admin');
    await expect(admin.whoami()).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    await expect(root2.removeUser('root2')).rejects.toMatchObject({ code: 'CONFLICT' });
    const ci = await root2.createToken({ user: 'ci-pricing', role: 'viewer' });
    await root2.removeUser('ci-pricing');
    await expect(as(ci.token).whoami()).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    expect((await root2.listUsers()).map((u) => u.name)).not.toContain('ci-pricing');
  });
});
