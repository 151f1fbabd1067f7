/**
 * The audit trail through the API and the CLI: who changed what, from where, with what result;
 * refused calls; deployments' state changes; secrets kept out; and `audit verify`, which finds
 * the chain intact, then names the entry edited directly in the database.
 */
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes, SlipwayClient, type AuditEntryView } from '../src/api/index.js';
import { runCli, type ProcessCommands } from '../src/cli/index.js';
import { startInProcessServer, type InProcessServer } from './helpers/in-process-server.js';
import { until } from './helpers/until.js';

const noProcesses = {} as ProcessCommands;

describe('the audit trail', () => {
  let s: InProcessServer;
  let dana: SlipwayClient;
  let danaTokenId: string;
  const logged: string[] = [];

  beforeAll(async () => {
    s = await startInProcessServer({ log: (m) => logged.push(m) });
    await s.admin.applyServiceMap({
      services: { pricing: { run: 'node server.js', env: { DB_PASSWORD: 'hunter2' } } },
      environments: {
        prod: { hosts: { labels: { tier: 'prod' } }, policy: { approvals: 1 } },
      },
    });
    await s.admin.createUser({ name: 'dana' });
    const t = await s.admin.createToken({ user: 'dana', role: 'deployer', environment: 'prod' });
    danaTokenId = t.id;
    dana = new SlipwayClient({ server: s.url, token: t.token });
  });
  afterAll(() => s.stop());

  const all = () => s.admin.listAudit({ limit: 1000 });
  const cli = async (...args: string[]) => {
    const text = { stdout: '', stderr: '' };
    const code = await runCli(
      ['node', 'slipway', '--server', s.url, '--token', s.adminToken, ...args],
      noProcesses,
      {
        stdout: { write: (x: string) => (text.stdout += x) },
        stderr: { write: (x: string) => (text.stderr += x) },
      },
    );
    return { code, ...text };
  };

  it('records who changed what, with what result, and keeps secrets out', async () => {
    await expect(
      dana.createDeployment({ service: 'pricing', environment: 'prod', image: 'nope' }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const entries = await all();
    const ops = entries.map((e) => `${e.actor} ${e.operation}`);
    expect(ops).toEqual([
      'user:admin applyServiceMap',
      'user:admin createUser',
      'user:admin createToken',
      'user:dana createDeployment',
    ]);
    const [map, , token, deploy] = entries as [
      AuditEntryView,
      AuditEntryView,
      AuditEntryView,
      AuditEntryView,
    ];
    expect(JSON.stringify(entries)).not.toContain('hunter2');
    expect(JSON.stringify(map.args)).toContain('"DB_PASSWORD":"[redacted]"');
    expect(token.args).toEqual({
      params: {},
      query: {},
      body: { user: 'dana', role: 'deployer', environment: 'prod' },
    });
    expect(token.result).toBe('ok');
    expect(deploy).toMatchObject({
      tokenId: danaTokenId,
      source: '127.0.0.1',
      target: { environment: 'prod', service: 'pricing' },
      result: expect.stringMatching(/^NOT_FOUND: no image "nope"/),
    });
    expect((await s.admin.verifyAudit()).ok).toBe(true);
  });

  it('records refused calls, a few a minute from one address', async () => {
    const before = (await all()).length;
    const stranger = new SlipwayClient({ server: s.url, token: 'slw_user_not-a-token' });
    for (let i = 0; i < 30; i++) await stranger.listDeployments().catch(() => {});
    await dana.createUser({ name: 'mallory' }).catch(() => {});
    const added = (await all()).slice(before);
    const strangers = added.filter((e) => e.actor === 'anonymous');
    expect(strangers.length).toBe(20);
    expect(strangers[0]).toMatchObject({
      operation: 'listDeployments',
      result: 'refused: unknown or revoked API token',
    });
    // dana's refusal came after the stranger's twenty in the same minute, from the same address.
    expect(added.filter((e) => e.actor === 'user:dana')).toEqual([]);
  });

  it('lists the entries of one user, and those filed under one environment', async () => {
    const mine = await s.admin.listAudit({ user: 'dana', limit: 1000 });
    expect(mine.map((e) => e.operation)).toEqual(['createDeployment']);
    expect(
      (await s.admin.listAudit({ environment: 'prod', limit: 1000 })).map((e) => e.operation),
    ).toContain('createDeployment');
  });

  it('lists from the CLI, says the chain is intact, and names an entry edited in the database', async () => {
    const listed = await cli('audit', '--user', 'dana');
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(
      /user:dana \(tok_[0-9a-f]+\) +127\.0\.0\.1 +createDeployment +environment=prod service=pricing +NOT_FOUND/,
    );
    const intact = await cli('audit', 'verify');
    expect(intact).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(
        /^audit trail intact: \d+ entries, head entry \d+ sha256 [0-9a-f]{64}\n$/,
      ),
    });
    const db = (s.store as unknown as { db: Kysely<unknown> }).db;
    await sql`update audit set actor = 'user:someone-else' where seq = 4`.execute(db);
    const broken = await cli('audit', 'verify');
    expect(broken.code).toBe(1);
    expect(broken.stdout).toBe(
      'AUDIT TRAIL BROKEN at entry 4: entry 4 was changed (or moved): its content does not match its hash (3 entries hold before it)\n',
    );
    await sql`update audit set actor = 'user:dana' where seq = 4`.execute(db);
    expect((await cli('audit', 'verify')).code).toBe(0);
  });

  it('has no route that edits or deletes an entry, and logs the chain’s head', async () => {
    const auditRoutes = Object.values(routes).filter((r) => r.path.startsWith('/v1/audit'));
    expect(auditRoutes.map((r) => r.method)).toEqual(['GET', 'GET']);
    await until('a checkpoint', () =>
      logged.some((l) => /^audit checkpoint: entry \d+, sha256 [0-9a-f]{64}$/.test(l)),
    );
  });
});
