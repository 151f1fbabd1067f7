/**
 * Four eyes through the API: a deployment to an environment whose policy asks for approvals
 * waits, touching no host, until approvers other than its requester approve; it can be rejected,
 * and it expires unapproved.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlipwayClient, type DeploymentView } from '../src/api/index.js';
import { startInProcessServer, type InProcessServer } from './helpers/in-process-server.js';
import { tinyImage } from './helpers/tiny-image.js';
import { until } from './helpers/until.js';

describe('approvals', () => {
  let s: InProcessServer;
  let dana: SlipwayClient;
  let pat: SlipwayClient;
  let stagingApprover: SlipwayClient;
  let prodHost: { hostId: string; client: SlipwayClient };

  const token = async (user: string, role: 'deployer' | 'approver', environment: string) =>
    new SlipwayClient({
      server: s.url,
      token: (await s.admin.createToken({ user, role, environment })).token,
    });

  beforeAll(async () => {
    s = await startInProcessServer();
    await s.admin.applyServiceMap({
      services: { pricing: { run: 'node server.js' } },
      environments: {
        staging: { hosts: { labels: { tier: 'staging' } } },
        prod: {
          hosts: { labels: { tier: 'prod' } },
          policy: { approvals: 1, approvalTimeout: '2s' },
        },
      },
    });
    for (const u of ['dana', 'pat', 'sam']) await s.admin.createUser({ name: u });
    dana = await token('dana', 'deployer', 'prod');
    pat = await token('pat', 'approver', 'prod');
    stagingApprover = await token('sam', 'approver', 'staging');
    const enrolled = await s.joiner.enroll({
      name: 'prod-1',
      region: 'r',
      labels: { tier: 'prod' },
    });
    prodHost = {
      hostId: enrolled.hostId,
      client: new SlipwayClient({ server: s.url, token: enrolled.token }),
    };
    // Online: it has reported.
    await prodHost.client.agentReport({ services: [] });
    await tinyImage(dana, s.dir, 'pricing', 'v1', ['v1']);
  });
  afterAll(() => s.stop());

  const deploy = () =>
    dana.createDeployment({ service: 'pricing', environment: 'prod', image: 'v1' });
  const stateOf = async (d: DeploymentView) => (await s.admin.getDeployment(d.id)).state;

  it('waits for an approver who is not the requester, then stages', async () => {
    const d = await deploy();
    expect(d.state).toBe('awaiting_approval');
    expect(d.approval).toMatchObject({ required: 1, requestedBy: 'user:dana', approvals: [] });
    // Nothing reaches the host while it waits.
    expect((await prodHost.client.agentGoal(-1, 0)).services).toEqual([]);
    await expect(dana.approveDeployment(d.id)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(stagingApprover.approveDeployment(d.id)).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
    const approved = await pat.approveDeployment(d.id.slice(0, 8));
    expect(approved.approval?.approvals.map((a) => a.by)).toEqual(['user:pat']);
    await until('staging', async () => (await stateOf(d)) === 'staging');
    const goal = await prodHost.client.agentGoal(-1, 0);
    expect(goal.services.map((x) => x.stage.map((r) => r.version))).toEqual([[d.release]]);
    const events: string[] = [];
    const stop = new AbortController();
    await s.admin
      .streamEvents(
        d.id,
        (e) => {
          events.push(`${e.type} ${e.actor}`);
          if (e.type === 'hosts.state') stop.abort();
        },
        stop.signal,
      )
      .catch(() => {});
    expect(events.slice(0, 3)).toEqual([
      'deployment.created user:dana',
      'deployment.approved user:pat',
      'deployment.state system:orchestrator',
    ]);
    await s.admin.cancelDeployment(d.id);
    await until('cancelled', async () => (await stateOf(d)) === 'cancelled');
    // The audit trail holds the request, the approval and every state change, filed under prod.
    const trail = (await s.admin.listAudit({ environment: 'prod', limit: 1000 })).filter(
      (e) =>
        e.target.deployment === d.id || e.target.id === d.id || e.target.id === d.id.slice(0, 8),
    );
    const said = (e: (typeof trail)[number]) =>
      [e.actor, e.operation, (e.args as { state?: string }).state, e.result.split(':')[0]]
        .filter(Boolean)
        .join(' ');
    expect(trail.map(said)).toEqual([
      'user:dana createDeployment ok',
      // The approver of staging, refused on prod's deployment.
      'user:sam approveDeployment refused',
      'user:pat approveDeployment ok',
      'system:orchestrator deployment.state staging ok',
      'user:admin cancelDeployment ok',
      'system:orchestrator deployment.state cancelled ok',
    ]);
    expect(trail[0]!.target).toEqual({
      environment: 'prod',
      service: 'pricing',
      deployment: d.id,
      release: d.release,
    });
    expect((await s.admin.verifyAudit()).ok).toBe(true);
  });

  it('ends a rejected deployment, and one left unapproved expires', async () => {
    const d = await deploy();
    await expect(pat.rejectDeployment(d.id, '')).rejects.toMatchObject({ code: 'INVALID' });
    const r = await pat.rejectDeployment(d.id, 'market is open');
    expect(r.approval?.rejected).toMatchObject({ by: 'user:pat', reason: 'market is open' });
    await until('rejected', async () => (await stateOf(d)) === 'rejected');
    expect((await s.admin.getDeployment(d.id)).reason).toBe('rejected by user:pat: market is open');
    await expect(pat.approveDeployment(d.id)).rejects.toMatchObject({ code: 'CONFLICT' });

    const late = await deploy();
    await until('expired', async () => (await stateOf(late)) === 'expired', { timeoutMs: 15_000 });
    expect((await s.admin.getDeployment(late.id)).reason).toMatch(/^not approved in time: 0 of 1/);
  });
});
