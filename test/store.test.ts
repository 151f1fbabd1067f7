/** The store behaves the same over embedded PGlite and a real PostgreSQL server. */
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planDeployment } from '../src/core/index.js';
import { openStore, parseRevoked, type Store } from '../src/store/index.js';
import { freshPostgresUrl } from './helpers/fresh-postgres.js';
import { until } from './helpers/until.js';

const engines: [string, () => Promise<Store>][] = [
  ['pglite', () => openStore({ engine: 'pglite', dataDir: null })],
  ['postgres', async () => openStore({ engine: 'postgres', url: await freshPostgresUrl() })],
];

const SPEC = {
  name: 'svc',
  run: { argv: ['node', 'server.js'] },
  port: null,
  env: {},
  health: null,
  after: [],
  placement: { regions: [], labels: {} },
  rollout: { batchSize: { count: 1 }, failureThreshold: { count: 0 } },
  keepReleases: 3,
};

/** Enough hosts for three statements of a set-based write (one takes a thousand). */
function fleetIds(): string[] {
  // One id with what an array literal must escape, to see each engine pass it through.
  return Array.from({ length: 2_500 }, (_, i) => (i === 7 ? 'f-"q,{x}\\ NULL' : `f-${i}`));
}

/** A JSON key with what JSON and array literals must both escape. */
const ODD_KEY = 'a"b\\c,{d} ü';

async function addFleet(store: Store, ids: string[]): Promise<void> {
  await store.transaction(async (tx) => {
    for (const id of ids) await tx.hosts.add({ id, name: id, region: 'fleet', labels: {} });
  });
}

/** `base` plus `i` seconds and `i` milliseconds: a distinct time per host. */
function at(base: Date, i: number): Date {
  return new Date(base.getTime() + i * 1001);
}

/**
 * The database's clock once it has moved past every write made so far: PGlite's clock moves in
 * milliseconds, so a write and the read after it can share a reading.
 */
async function clockAfterWrites(store: Store): Promise<Date> {
  const { now } = await store.hosts.changedSince(new Date());
  return until('the database clock to move on', async () => {
    const later = (await store.hosts.changedSince(new Date())).now;
    return later > now && later;
  });
}

describe.each(engines)('store over %s', (_name, open) => {
  let store: Store;
  beforeAll(async () => {
    store = await open();
  });
  afterAll(async () => {
    await store.close();
  });

  it('registers hosts, leaves a host alone when its name is taken, and removes one with its goals', async () => {
    const a = await store.hosts.add({
      id: 'h1',
      name: 'alpha',
      region: 'eu',
      labels: { role: 'x' },
    });
    expect(a?.goalGeneration).toBe(0);
    expect(a?.report).toBeNull();
    expect(a?.relay).toBe(false);
    const again = await store.hosts.add({ id: 'h-other', name: 'alpha', region: 'us', labels: {} });
    expect(again).toBeUndefined();
    expect(await store.hosts.byName('alpha')).toMatchObject({
      id: 'h1',
      region: 'eu',
      labels: { role: 'x' },
    });
    const gone = await store.hosts.add({ id: 'h-gone', name: 'gone', region: 'eu', labels: {} });
    await store.hosts.setRelay(gone!.id, true);
    expect((await store.hosts.byId('h-gone'))?.relay).toBe(true);
    await store.goals.change('svc', [{ hostId: 'h-gone', stage: 1 }]);
    expect(await store.transaction((tx) => tx.hosts.remove('h-gone'))).toBe(true);
    expect(await store.hosts.byId('h-gone')).toBeUndefined();
    expect(await store.goals.ofHost('h-gone')).toEqual([]);
    expect(await store.hosts.remove('h-gone')).toBe(false);
    expect((await store.hosts.list()).map((h) => h.name)).toEqual(['alpha']);
  });

  it('writes hosts’ reports and last-seen times in one call, a touch keeping the report', async () => {
    const report = { services: [], bytesReceived: { origin: 10 } };
    const at = new Date('2026-01-01T00:00:00Z');
    await store.hosts.saveLiveState(
      new Map([['h1', { report, bytesReceived: { origin: 10 }, seenAt: at }]]),
    );
    expect((await store.hosts.byId('h1'))?.report).toMatchObject(report);
    expect((await store.hosts.byId('h1'))?.bytesReceived).toEqual({ origin: 10 });
    const later = new Date('2026-01-01T00:01:00Z');
    await store.hosts.saveLiveState(new Map([['h1', { seenAt: later }]]));
    const row = await store.hosts.byName('alpha');
    expect(row?.report).toMatchObject(report);
    expect(row?.lastSeenAt?.toISOString()).toBe(later.toISOString());
  });

  it('numbers releases per service, checks their config, and keeps images, tags and chunks', async () => {
    await store.chunks.add('a'.repeat(64), 10);
    expect(await store.chunks.present(['a'.repeat(64), 'b'.repeat(64)])).toEqual(
      new Set(['a'.repeat(64)]),
    );
    const id = 'c'.repeat(64);
    await store.images.add({ id, service: 'svc', size: 10, files: 1, chunks: 1 }, '{}');
    await store.images.setTag('svc', 'latest', id);
    expect(await store.images.byTag('svc', 'latest')).toBe(id);
    expect((await store.images.byId(id))?.tags).toEqual(['latest']);
    // A prefix is only ever a prefix: LIKE's own wildcards in it match nothing.
    expect(await store.images.idsWithPrefix('svc', 'ccc', 5)).toEqual([id]);
    expect(await store.images.idsWithPrefix('svc', 'c%', 5)).toEqual([]);
    expect(await store.images.idsWithPrefix('svc', '__', 5)).toEqual([]);
    expect(await store.images.idsWithPrefix('other', 'ccc', 5)).toEqual([]);
    const r1 = await store.transaction((tx) =>
      tx.releases.add({ service: 'svc', imageId: id, environment: 'default', config: SPEC }),
    );
    const r2 = await store.transaction((tx) =>
      tx.releases.add({
        service: 'svc',
        imageId: id,
        environment: 'default',
        config: { ...SPEC, env: { A: '2' } },
      }),
    );
    expect([r1.version, r2.version]).toEqual([1, 2]);
    expect((await store.releases.get('svc', 2))?.config.env).toEqual({ A: '2' });
    // A row whose JSON does not have the shape it must is refused where it is read.
    await expect(
      store.transaction(async (tx) => {
        await tx.releases.add({
          service: 'bad',
          imageId: id,
          environment: 'default',
          config: { a: 1 },
        });
      }),
    ).rejects.toThrow(/stored config of release bad v1 does not have the expected shape/);
  });

  it('changes goals and bumps the generation of touched hosts only', async () => {
    await store.hosts.add({ id: 'h2', name: 'beta', region: 'eu', labels: {} });
    await store.goals.change('svc', [{ hostId: 'h1', stage: 2 }]);
    await store.goals.change('svc', [{ hostId: 'h1', active: 2 }]);
    expect(await store.goals.ofHost('h1')).toEqual([
      { hostId: 'h1', service: 'svc', stageVersion: 2, activeVersion: 2 },
    ]);
    expect((await store.hosts.byId('h1'))?.goalGeneration).toBe(2);
    expect((await store.hosts.byId('h2'))?.goalGeneration).toBe(0);
  });

  it('answers the releases that succeeding deployments put in place, newest first', async () => {
    const one = (id: string, release: number, kind: 'deploy' | 'stage' | 'rollback') =>
      planDeployment({
        id,
        service: 'rb',
        environment: 'prod',
        kind,
        release,
        hosts: [{ id: 'h1', name: 'alpha', region: 'eu', labels: {} }],
        previous: new Map(),
        rollout: { batchSize: { count: 1 }, failureThreshold: { count: 0 } },
      });
    const states = [
      ['rb1', 1, 'deploy', 'succeeded'],
      ['rb2', 2, 'deploy', 'failed'],
      ['rb3', 3, 'stage', 'succeeded'],
      ['rb4', 4, 'deploy', 'succeeded'],
      ['rb5', 1, 'rollback', 'succeeded'],
    ] as const;
    for (const [id, release, kind, state] of states) {
      await store.deployments.add({ ...one(id, release, kind), state }, 'c'.repeat(64));
      // Distinct creation times, in order.
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(
      (await store.deployments.succeededReleases('rb', 'prod', 10)).map((r) => r.version),
    ).toEqual([1, 4, 1]);
    expect(
      (await store.deployments.succeededReleases('rb', 'prod', 2)).map((r) => r.version),
    ).toEqual([1, 4]);
    expect(
      (await store.deployments.succeededReleases('rb', 'staging', 10)).map((r) => r.version),
    ).toEqual([]);
  });

  it("keeps a deployment's hosts in rows: in plan order, written when they move", async () => {
    // More hosts than one statement writes, named out of id order.
    const hosts = Array.from({ length: 2_345 }, (_, i) => ({
      id: `dh-${String((i * 7919) % 2_345).padStart(5, '0')}`,
      name: `n${i}`,
      region: i % 2 ? 'eu' : 'us',
      labels: {},
    }));
    const d = planDeployment({
      id: 'dh1',
      service: 'dhsvc',
      environment: 'prod',
      kind: 'deploy',
      release: 3,
      hosts,
      previous: new Map([['dh-00007', 2]]),
      rollout: { batchSize: { count: 500 }, failureThreshold: { count: 0 } },
    });
    await store.deployments.add(d, 'c'.repeat(64));
    const read = (await store.deployments.get('dh1'))!.deployment;
    expect(read).toEqual(d);

    // Only the hosts named as moved are written.
    const next = structuredClone(d);
    next.state = 'activating';
    const moved = [next.hosts[0]!, next.hosts[1_234]!];
    for (const h of moved) Object.assign(h, { state: 'failed', detail: 'HTTP 500' });
    next.hosts[2]!.state = 'healthy'; // changed, but not said to have moved: not written
    await store.deployments.update(next, moved);
    const after = (await store.deployments.get('dh1'))!.deployment;
    expect(after.state).toBe('activating');
    expect(after.hosts.filter((h) => h.state === 'failed').map((h) => h.hostId)).toEqual(
      moved.map((h) => h.hostId),
    );
    expect(after.hosts[1_234]!.detail).toBe('HTTP 500');
    expect(after.hosts[2]!.state).toBe(d.hosts[2]!.state);
    expect(after.hosts.map((h) => h.hostId)).toEqual(hosts.map((h) => h.id));

    const listed = await store.deployments.list({ service: 'dhsvc' }, 10);
    expect(listed.map((r) => r.deployment.hosts.length)).toEqual([2_345]);
    await store.deployments.update({ ...after, state: 'succeeded' });
  });

  it('persists deployments and events, and rolls back a failed transaction', async () => {
    const d = planDeployment({
      id: 'd1',
      service: 'svc',
      environment: 'default',
      kind: 'deploy',
      release: 2,
      hosts: [{ id: 'h1', name: 'alpha', region: 'eu', labels: {} }],
      previous: new Map(),
      rollout: { batchSize: { count: 1 }, failureThreshold: { count: 0 } },
    });
    const added = await store.deployments.add(d, 'c'.repeat(64));
    expect(added).toMatchObject({ deployment: d, imageId: 'c'.repeat(64) });
    expect((await store.deployments.get('d1'))?.createdAt).toEqual(added.createdAt);
    expect(await store.deployments.runningIds()).toEqual(['d1']);
    // The head of the row: when it was written, and whether a cancellation was asked for.
    const at = await store.deployments.update({ ...d, cancelRequested: true });
    const head = await store.transaction((tx) => tx.deployments.headForUpdate('d1'));
    expect(head).toEqual({ updatedAt: at, cancelRequested: true });
    await store.deployments.update(d);
    expect((await store.deployments.headForUpdate('d1'))?.cancelRequested).toBe(false);
    expect(await store.deployments.headForUpdate('nope')).toBeUndefined();
    await expect(
      store.transaction(async (tx) => {
        await tx.deployments.update({ ...d, state: 'failed' });
        await tx.events.add([{ deploymentId: 'd1', type: 'lost', data: {} }]);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect((await store.deployments.get('d1'))?.deployment.state).toBe('staging');
    const e1 = await store.events.add([
      { deploymentId: 'd1', type: 'x', actor: 'user:admin', data: { n: 1 } },
    ]);
    await store.events.add([{ deploymentId: null, type: 'y', data: {} }]);
    const ofD1 = await store.events.after(0, 'd1');
    expect(ofD1.map((e) => [e.type, e.actor])).toEqual([['x', 'user:admin']]);
    expect((await store.events.after(e1!, null)).map((e) => e.type)).toEqual(['y']);
    expect(await store.events.lastId()).toBeGreaterThan(e1!);
    expect(
      (await store.deployments.list({ service: 'svc', environment: 'other' }, 10)).length,
    ).toBe(0);
  });

  it('appends more events than one statement takes, in order, answering the last id', async () => {
    const many = Array.from({ length: 2_345 }, (_, i) => ({
      deploymentId: i % 2 ? 'd-odd' : null,
      type: 'host.state',
      actor: i === 7 ? 'user:admin' : null,
      data: { n: i },
    }));
    const before = await store.events.lastId();
    const last = await store.events.add(many);
    expect(await store.events.add([])).toBeNull();
    const read = (await store.events.after(before, null, 5_000)).filter(
      (e) => e.type === 'host.state',
    );
    expect(read.map((e) => e.data.n)).toEqual(many.map((e) => e.data.n));
    expect(read.at(-1)!.id).toBe(last);
    expect(read[7]!.actor).toBe('user:admin');
    expect(read.filter((e) => e.deploymentId === 'd-odd')).toHaveLength(1_172);
  });

  it('announces a notification once its transaction commits, and never one rolled back', async () => {
    const heard: string[] = [];
    const stop = store.listen('goals', (p) => heard.push(p));
    try {
      await expect(
        store.transaction(async (tx) => {
          await tx.notify('goals', 'rolled-back');
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      await store.transaction(async (tx) => {
        await tx.notify('goals', 'h1,h2');
        // Not before the commit.
        expect(heard).toEqual([]);
      });
      await until('the notification', () => heard.includes('h1,h2'));
      expect(heard).toEqual(['h1,h2']);
    } finally {
      stop();
    }
  });

  it('writes the live state of more hosts than one statement takes, skipping unknown ones', async () => {
    const ids = fleetIds();
    await addFleet(store, ids);
    const reportOf = (i: number, gen: number) => ({
      services: [],
      bytesReceived: { origin: i * 10 + gen },
    });
    const first = new Date('2026-02-01T00:00:00.000Z');
    await store.hosts.saveLiveState(
      new Map(
        ids.map((id, i) => [
          id,
          {
            report: reportOf(i, 1),
            bytesReceived: { origin: i, [ODD_KEY]: i },
            seenAt: at(first, i),
          },
        ]),
      ),
    );
    // Then a mix: even hosts report again, odd ones are only seen; an unknown host is skipped.
    const second = new Date('2026-03-01T00:00:00.000Z');
    const mixed = new Map<
      string,
      { report?: unknown; bytesReceived?: Record<string, number>; seenAt: Date }
    >(
      ids.map((id, i) => [
        id,
        i % 2 === 0
          ? { report: reportOf(i, 2), bytesReceived: { origin: i + 1 }, seenAt: at(second, i) }
          : { seenAt: at(second, i) },
      ]),
    );
    mixed.set('no-such-host', { report: reportOf(0, 9), seenAt: second });
    await store.hosts.saveLiveState(mixed);
    const rows = new Map((await store.hosts.list()).map((h) => [h.id, h]));
    expect(rows.has('no-such-host')).toBe(false);
    ids.forEach((id, i) => {
      const h = rows.get(id);
      expect(h?.lastSeenAt?.toISOString(), id).toBe(at(second, i).toISOString());
      expect(h?.report, id).toMatchObject(reportOf(i, i % 2 === 0 ? 2 : 1));
      expect(h?.bytesReceived, id).toEqual(
        i % 2 === 0 ? { origin: i + 1 } : { origin: i, [ODD_KEY]: i },
      );
    });
  });

  it('changes the goals of more hosts than one statement takes, keeping what a change leaves out', async () => {
    const ids = fleetIds();
    await addFleet(store, ids); // (already there when the test before ran: then a no-op)
    const before = new Map((await store.hosts.list()).map((h) => [h.id, h.goalGeneration]));
    expect(
      await store.goals.change(
        'fleet',
        ids.map((id, i) => ({ hostId: id, stage: 1, active: i })),
      ),
    ).toEqual(ids);
    // Fields left out keep the stored value, null clears it; most changes have one shape, so
    // that shape spans batches. The first host is named twice: both of its changes apply.
    const shapes = (i: number) =>
      i % 5 < 3 ? { stage: 100 + i } : i % 5 === 3 ? { active: null } : {};
    const changes: { hostId: string; stage?: number | null; active?: number | null }[] = ids.map(
      (id, i) => ({ hostId: id, ...shapes(i) }),
    );
    changes.push({ hostId: ids[0]!, active: -1 });
    expect(await store.goals.change('fleet', changes)).toEqual(ids);
    // On a service the hosts had no goal of, a field left out is null.
    await store.goals.change(
      'fleet-other',
      ids.map((id, i) => ({ hostId: id, stage: i })),
    );
    const goals = new Map(
      (await store.goals.ofHosts(ids)).map((g) => [`${g.hostId} ${g.service}`, g]),
    );
    ids.forEach((id, i) => {
      expect(goals.get(`${id} fleet`), id).toEqual({
        hostId: id,
        service: 'fleet',
        stageVersion: i % 5 < 3 ? 100 + i : 1,
        activeVersion: i === 0 ? -1 : i % 5 === 3 ? null : i,
      });
      expect(goals.get(`${id} fleet-other`), id).toMatchObject({
        stageVersion: i,
        activeVersion: null,
      });
    });
    const after = await store.hosts.list();
    for (const h of after.filter((h) => ids.includes(h.id)))
      expect(h.goalGeneration, h.id).toBe(Number(before.get(h.id)) + 3);
    expect(after.find((h) => h.id === 'h1')?.goalGeneration).toBe(before.get('h1'));
    const gens = new Map(after.map((h) => [h.id, h.goalGeneration]));
    const read = await store.hosts.goalStates([...ids, 'no-such-host']);
    expect(new Map(read.map((g) => [g.id, g.goalGeneration]))).toEqual(
      new Map(ids.map((id) => [id, gens.get(id)])),
    );
    // With each host's goals, by service, as they were read above.
    for (const h of read)
      expect(h.goals).toEqual([goals.get(`${h.id} fleet`), goals.get(`${h.id} fleet-other`)]);
    const all = await store.hosts.goalStates('all');
    expect(all.length).toBe(after.length);
    // A host without goals is there too, with none.
    await store.hosts.add({ id: 'no-goals', name: 'no-goals', region: 'eu', labels: {} });
    expect(await store.hosts.goalStates(['no-goals'])).toEqual([
      { id: 'no-goals', goalGeneration: 0, goals: [] },
    ]);
  });

  it('finds the hosts written since a time by the database’s clock, whatever wrote them', async () => {
    const names = ['seen', 'reported', 'relayed', 'goal', 'untouched'];
    for (const n of names)
      await store.hosts.add({ id: `c-${n}`, name: `c-${n}`, region: 'c', labels: {} });
    const everything = await store.hosts.changedSince(new Date(0));
    expect(everything.hosts.length).toBe((await store.hosts.list()).length);
    const since = await clockAfterWrites(store);
    expect((await store.hosts.changedSince(since)).hosts).toEqual([]);
    // A last-seen time from the past (the agent's clock) still counts as written now.
    const longAgo = new Date('2001-01-01T00:00:00Z');
    await store.hosts.saveLiveState(new Map([['c-seen', { seenAt: longAgo }]]));
    await store.hosts.saveLiveState(
      new Map([['c-reported', { report: { services: [], bytesReceived: {} }, seenAt: longAgo }]]),
    );
    await store.hosts.setRelay('c-relayed', true);
    // A goal change is not a write to the row: its readers read generations when announced.
    await store.goals.change('svc', [{ hostId: 'c-goal', stage: 1 }]);
    await store.hosts.add({ id: 'c-new', name: 'c-new', region: 'c', labels: {} });
    const changed = await store.hosts.changedSince(since);
    expect(changed.hosts.map((h) => h.id).sort()).toEqual([
      'c-new',
      'c-relayed',
      'c-reported',
      'c-seen',
    ]);
    expect(changed.hosts.find((h) => h.id === 'c-relayed')?.relay).toBe(true);
    expect(changed.now.getTime()).toBeGreaterThanOrEqual(since.getTime());
    // The clock handed back is where the next read starts: nothing written since, nothing read.
    const next = await clockAfterWrites(store);
    expect((await store.hosts.changedSince(next)).hosts).toEqual([]);
  });

  it('announces the tokens it revokes, with the transaction that deletes them', async () => {
    await store.tokens.add('a'.repeat(64), 'agent', 'h-revoked');
    await store.tokens.add('b'.repeat(64), 'agent', 'h-kept');
    const heard: string[] = [];
    const stop = store.listen('tokens', (p) => heard.push(p));
    try {
      await expect(
        store.transaction(async (tx) => {
          await tx.tokens.revokeOfHost('h-revoked');
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(await store.tokens.find('a'.repeat(64))).toBeDefined();
      await store.transaction((tx) => tx.tokens.revokeOfHost('h-revoked'));
      await until('the revocation', () => heard.length > 0);
      expect(heard.map(parseRevoked)).toEqual([
        { hashes: ['a'.repeat(64)], hostIds: ['h-revoked'] },
      ]);
      expect(await store.tokens.find('a'.repeat(64))).toBeUndefined();
      expect(await store.tokens.find('b'.repeat(64))).toBeDefined();
    } finally {
      stop();
    }
  });

  it('keeps users and their scoped, expiring tokens, lists them without secrets, and revokes by id or user', async () => {
    // The migration made the built-in admin; the first-start token is its.
    expect((await store.users.get('admin'))?.kind).toBe('person');
    await store.tokens.add('c'.repeat(64), 'admin');
    expect(await store.tokens.find('c'.repeat(64))).toMatchObject({
      kind: 'admin',
      id: 'admin',
      user: 'admin',
      grant: { role: 'admin', environment: null, service: null },
    });
    await store.users.add('ci-bot', 'machine');
    const expiresAt = new Date(Date.UTC(2030, 0, 1));
    const grant = { role: 'deployer' as const, environment: 'prod', service: 'pricing' };
    await store.tokens.addForUser('d'.repeat(64), {
      id: 'tok_1',
      user: 'ci-bot',
      grant,
      expiresAt,
    });
    await store.tokens.addForUser('e'.repeat(64), {
      id: 'tok_2',
      user: 'ci-bot',
      grant: { role: 'viewer', environment: null, service: null },
      expiresAt: null,
    });
    expect(await store.tokens.find('d'.repeat(64))).toEqual({
      kind: 'user',
      hostId: null,
      id: 'tok_1',
      user: 'ci-bot',
      grant,
      expiresAt,
    });
    const listed = await store.tokens.listOfUsers();
    expect(listed.map((t) => [t.id, t.user, t.grant.role])).toEqual([
      ['admin', 'admin', 'admin'],
      ['tok_1', 'ci-bot', 'deployer'],
      ['tok_2', 'ci-bot', 'viewer'],
    ]);
    expect(JSON.stringify(listed)).not.toMatch(/dddd|eeee/);
    // A user that does not exist holds nothing.
    await expect(
      store.tokens.addForUser('f'.repeat(64), {
        id: 'tok_3',
        user: 'nobody',
        grant,
        expiresAt: null,
      }),
    ).rejects.toThrow();

    const heard: string[] = [];
    const stop = store.listen('tokens', (p) => heard.push(p));
    try {
      expect(await store.tokens.revoke('tok_1')).toBe(true);
      expect(await store.tokens.revoke('tok_1')).toBe(false);
      // Agent and join tokens are not revoked by a user token's id.
      expect(await store.tokens.find('d'.repeat(64))).toBeUndefined();
      await store.tokens.revokeOfUser('ci-bot');
      expect(await store.users.remove('ci-bot')).toBe(true);
      await until('both revocations', () => heard.length >= 2);
      expect(heard.map(parseRevoked)).toEqual([
        { hashes: ['d'.repeat(64)], hostIds: [] },
        { hashes: ['e'.repeat(64)], hostIds: [] },
      ]);
      expect((await store.tokens.listOfUsers()).map((t) => t.id)).toEqual(['admin']);
    } finally {
      stop();
    }
  });

  describe('the audit trail', () => {
    /** Straight to the database, as someone with access to it (not through Slipway) would. */
    const tamper = (q: string) =>
      sql.raw(q).execute((store as unknown as { db: Kysely<unknown> }).db);
    const entry = (i: number) => ({
      at: new Date(Date.UTC(2026, 11, 7, 12, 0, i)),
      actor: i % 2 ? 'user:dana' : 'system:orchestrator',
      tokenId: i % 2 ? 'tok_1' : null,
      source: '10.0.0.7',
      operation: 'createDeployment',
      args: { service: 'pricing', environment: 'prod', n: i, nested: { b: 1, a: [true, null] } },
      target: { environment: 'prod', service: 'pricing' },
      result: 'ok',
    });
    const restore = async (rows: unknown[]) => {
      await tamper('delete from audit');
      for (const r of rows as Record<string, unknown>[]) {
        await tamper(
          `insert into audit select * from json_populate_record(null::audit, '${JSON.stringify(r).replace(/'/g, "''")}')`,
        );
      }
    };
    let pristine: unknown[];

    it('chains what it appends, in order, and finds the chain intact', async () => {
      for (let i = 1; i <= 6; i += 3)
        await store.transaction((tx) => tx.audit.append([entry(i), entry(i + 1), entry(i + 2)]));
      const all = await store.audit.list({ limit: 100 });
      expect(all.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(all[3]!.prevHash).toBe(all[2]!.hash);
      expect(all[0]).toMatchObject({ actor: 'user:dana', tokenId: 'tok_1', args: entry(1).args });
      const verdict = await store.audit.verify();
      expect(verdict).toEqual({
        ok: true,
        entries: 6,
        head: { seq: 6, hash: all[5]!.hash },
        problem: null,
      });
      expect(
        (await store.audit.list({ limit: 100, actor: 'user:dana' })).map((e) => e.seq),
      ).toEqual([1, 3, 5]);
      pristine = (await tamper('select * from audit order by seq')).rows;
    });

    it('names an entry changed in the database', async () => {
      await tamper(
        `update audit set args = jsonb_set(args, '{service}', '"scores"') where seq = 3`,
      );
      expect((await store.audit.verify()).problem).toEqual({
        seq: 3,
        message: 'entry 3 was changed (or moved): its content does not match its hash',
      });
      await restore(pristine);
      expect((await store.audit.verify()).ok).toBe(true);
    });

    it('names an entry removed, in the middle or at the end', async () => {
      await tamper('delete from audit where seq = 4');
      expect((await store.audit.verify()).problem).toEqual({
        seq: 4,
        message: 'entry 4 is missing: removed',
      });
      await restore(pristine);
      await tamper('delete from audit where seq = 6');
      expect((await store.audit.verify()).problem?.message).toMatch(
        /the chain ends at entry 5 but its head says 6: the last entries were removed/,
      );
      await restore(pristine);
    });

    it('names entries reordered, even with their hashes carried along', async () => {
      await tamper('update audit set seq = -seq where seq in (2, 3)');
      await tamper('update audit set seq = 5 - seq where seq in (-2, -3)');
      const verdict = await store.audit.verify();
      expect(verdict.ok).toBe(false);
      expect(verdict.problem?.seq).toBe(2);
      await restore(pristine);
      expect((await store.audit.verify()).ok).toBe(true);
    });
  });

  it('reads the hosts of many ids at once, leaving out the unknown ones', async () => {
    const ids = Array.from({ length: 1_200 }, (_, i) => `many-${String(i).padStart(4, '0')}`);
    for (const id of ids) await store.hosts.add({ id, name: id, region: 'eu', labels: {} });
    const got = await store.hosts.byIds([...ids, 'no-such-host']);
    expect(got.map((h) => h.id).sort()).toEqual(ids);
    expect(await store.hosts.byIds([])).toEqual([]);
  });
});

describe('two stores on one PostgreSQL (two server processes)', () => {
  it('each hears what the other commits', async () => {
    const url = await freshPostgresUrl();
    const a = await openStore({ engine: 'postgres', url });
    const b = await openStore({ engine: 'postgres', url });
    try {
      const heard: string[] = [];
      b.listen('events', (p) => heard.push(p));
      await a.transaction(async (tx) => {
        const e = await tx.events.add([{ deploymentId: null, type: 'x', data: {} }]);
        await tx.notify('events', String(e));
      });
      await until('b to hear a’s event', () => heard.length === 1);
      expect((await b.events.after(0, null)).map((e) => e.type)).toEqual(['x']);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('batch writes on PostgreSQL', () => {
  it('write a few thousand hosts in a few statements, not one per host', async () => {
    const url = await freshPostgresUrl();
    const store = await openStore({ engine: 'postgres', url });
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      const ids = fleetIds();
      await addFleet(store, ids);
      // The database counts the statements itself: a statement trigger fires once per
      // statement, however many rows (none included) it writes.
      await db.query(`
        create table statements (tbl text not null, op text not null);
        create function count_statement() returns trigger language plpgsql as $$
          begin insert into statements values (tg_table_name, tg_op); return null; end $$;
        create trigger count_host_updates after update on hosts
          for each statement execute function count_statement();
        create trigger count_goal_inserts after insert on goals
          for each statement execute function count_statement();
      `);
      const counted = async () => {
        const r = await db.query<{ tbl: string; op: string; n: number }>(
          'select tbl, op, count(*)::int as n from statements group by tbl, op order by tbl',
        );
        await db.query('delete from statements');
        return r.rows;
      };
      const states = new Map<string, { report?: unknown; seenAt: Date }>(
        ids.map((id, i) => [
          id,
          i % 2 ? { seenAt: new Date() } : { report: { services: [] }, seenAt: new Date() },
        ]),
      );
      states.set('no-such-host', { seenAt: new Date() });
      await store.hosts.saveLiveState(states);
      expect(await counted()).toEqual([{ tbl: 'hosts', op: 'UPDATE', n: 3 }]);
      // One shape of change: one upsert per thousand hosts, and as many generation bumps.
      await store.goals.change(
        'svc',
        ids.map((id) => ({ hostId: id, stage: 1 })),
      );
      expect(await counted()).toEqual([
        { tbl: 'goals', op: 'INSERT', n: 3 },
        { tbl: 'hosts', op: 'UPDATE', n: 3 },
      ]);
    } finally {
      await db.end();
      await store.close();
    }
  });
});
