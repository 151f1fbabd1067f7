import { describe, expect, it } from 'vitest';
import { advance } from './deployment.js';
import {
  ALREADY_ON_DISK,
  type Deployment,
  type HostObservation,
  type Timing,
} from './deployment-model.js';
import { approve, reject, requestCancel, requestPause } from './deployment-requests.js';
import { planDeployment } from './planner.js';

const timing: Timing = { stageTimeoutMs: 1000, activateTimeoutMs: 500, revertTimeoutMs: 500 };
const hosts = ['a', 'b', 'c', 'd'].map((n, i) => ({
  id: n,
  name: `host-${n}`,
  region: i < 2 ? 'r1' : 'r2',
  labels: {},
}));

function plan(overrides: Partial<Parameters<typeof planDeployment>[0]> = {}): Deployment {
  return planDeployment({
    id: 'd',
    service: 'svc',
    environment: 'prod',
    kind: 'deploy',
    release: 2,
    hosts,
    previous: new Map(hosts.map((h) => [h.id, 1])),
    rollout: { batchSize: { count: 2 }, failureThreshold: { count: 0 } },
    ...overrides,
  });
}

const obs = (f: (id: string) => HostObservation) => new Map(hosts.map((h) => [h.id, f(h.id)]));
const staged = (
  v: number[],
  active: HostObservation['active'] = { version: 1, state: 'healthy', detail: null },
) => ({ staged: v, stagingFailed: null, active }) satisfies HostObservation;

describe('deployment state machine', () => {
  it('says a host had the release on disk already, instead of showing it staging', () => {
    // a and b have release 2 (a rollback to it, or a stage before); c and d must fetch it.
    const s = advance(
      plan({ hosts: hosts.slice(0, 3) }),
      obs((id) => staged(id === 'c' ? [1] : [1, 2])),
      0,
      timing,
    );
    const hostEvents = s.events.filter((e) => e.type === 'hosts.state');
    expect(hostEvents.map((e) => [e.hosts.map((h) => h.hostId), e.state, e.detail])).toEqual([
      [['a', 'b'], 'staged', ALREADY_ON_DISK],
      [['c'], 'staging', null],
    ]);
    // Their goal still names the release, so that it is kept while the deployment runs.
    expect(s.goals).toEqual(['a', 'b', 'c'].map((id) => ({ hostId: id, stage: 2 })));
    expect(s.deployment.state).toBe('staging');
  });

  it('tells the hosts that moved to one state in one step in one event, in order', () => {
    const many = Array.from({ length: 1_000 }, (_, i) => ({
      id: `h${i}`,
      name: `host-${i}`,
      region: 'r1',
      labels: {},
    }));
    const d = plan({
      hosts: many,
      previous: new Map(many.map((h) => [h.id, 1])),
      rollout: { batchSize: { count: 1_000 }, failureThreshold: { count: 0 } },
    });
    const all = (f: (id: string) => HostObservation) => new Map(many.map((h) => [h.id, f(h.id)]));
    const first = advance(
      d,
      all(() => staged([1])),
      0,
      timing,
    );
    expect(first.events).toEqual([
      { type: 'hosts.state', state: 'staging', detail: null, hosts: expect.any(Array) },
    ]);
    // Every host staged: each moves to staged, then (after the state change) to activating, then
    // healthy within the same step: the events keep each host's moves in order.
    const healthy = { version: 2, state: 'healthy' as const, detail: null };
    const s = advance(
      first.deployment,
      all(() => staged([1, 2], healthy)),
      1,
      timing,
    );
    expect(s.events.map((e) => [e.type, 'state' in e ? e.state : null])).toEqual([
      ['hosts.state', 'staged'],
      ['deployment.state', 'activating'],
      ['batch.started', null],
      ['hosts.state', 'activating'],
      ['hosts.state', 'healthy'],
      ['deployment.state', 'succeeded'],
    ]);
    for (const e of s.events) {
      if (e.type === 'hosts.state') expect(e.hosts).toHaveLength(1_000);
    }
  });

  it('stages every host before activating anything, then activates batch by batch', () => {
    let s = advance(
      plan(),
      obs(() => staged([1])),
      0,
      timing,
    );
    expect(s.deployment.state).toBe('staging');
    expect(s.goals).toEqual(hosts.map((h) => ({ hostId: h.id, stage: 2 })));
    expect(s.goals.some((g) => 'active' in g)).toBe(false);

    // Three of four staged: still staging, nothing activated.
    s = advance(
      s.deployment,
      obs((id) => staged(id === 'd' ? [1] : [1, 2])),
      10,
      timing,
    );
    expect(s.deployment.state).toBe('staging');
    expect(s.goals).toEqual([]);

    s = advance(
      s.deployment,
      obs(() => staged([1, 2])),
      20,
      timing,
    );
    expect(s.deployment.state).toBe('activating');
    expect(s.goals).toEqual([
      { hostId: 'a', active: 2 },
      { hostId: 'b', active: 2 },
    ]);

    const healthy = (ids: string[]) =>
      obs((id) =>
        staged(
          [1, 2],
          ids.includes(id)
            ? { version: 2, state: 'healthy', detail: null }
            : { version: 1, state: 'healthy', detail: null },
        ),
      );
    s = advance(s.deployment, healthy(['a', 'b']), 30, timing);
    expect(s.deployment.currentBatch).toBe(1);
    expect(s.goals).toEqual([
      { hostId: 'c', active: 2 },
      { hostId: 'd', active: 2 },
    ]);
    s = advance(s.deployment, healthy(['a', 'b', 'c', 'd']), 40, timing);
    expect(s.deployment.state).toBe('succeeded');
    expect(s.deployment.hosts.every((h) => h.state === 'healthy')).toBe(true);
  });

  it('stops waiting for a host removed during a deployment, long before any deadline', () => {
    const removed: HostObservation = { ...staged([]), removed: true };
    // Staging: a removed host fails at once, and nothing is activated.
    let s = advance(
      plan(),
      obs(() => staged([1])),
      0,
      timing,
    );
    s = advance(
      s.deployment,
      obs((id) => (id === 'b' ? removed : staged([1, 2]))),
      10,
      timing,
    );
    expect(s.deployment.state).toBe('failed');
    expect(s.deployment.hosts.find((h) => h.hostId === 'b')?.detail).toMatch(/removed/);

    // Activating (tolerating one failure per batch): the removed host fails, the rest carry on.
    const tolerant = plan({ rollout: { batchSize: { count: 2 }, failureThreshold: { count: 1 } } });
    s = advance(
      tolerant,
      obs(() => staged([1, 2])),
      0,
      timing,
    );
    expect(s.deployment.state).toBe('activating');
    const healthy = staged([1, 2], { version: 2, state: 'healthy', detail: null });
    s = advance(
      s.deployment,
      obs((id) => (id === 'a' ? removed : healthy)),
      10,
      timing,
    );
    s = advance(
      s.deployment,
      obs((id) => (id === 'a' ? removed : healthy)),
      20,
      timing,
    );
    expect(s.deployment.state).toBe('succeeded');

    // Rolling back: a removed host is not waited for.
    s = advance(
      tolerant,
      obs(() => staged([1, 2])),
      0,
      timing,
    );
    const starting = staged([1, 2], { version: 2, state: 'activating', detail: null });
    s = advance(
      requestCancel(s.deployment),
      obs(() => starting),
      10,
      timing,
    );
    expect(s.deployment.state).toBe('rolling_back');
    const back = staged([1, 2]);
    s = advance(
      s.deployment,
      obs((id) => (id === 'a' ? removed : back)),
      20,
      timing,
    );
    expect(s.deployment.state).toBe('cancelled');
  });

  it('is idempotent when nothing changed', () => {
    const s1 = advance(
      plan(),
      obs(() => staged([1])),
      0,
      timing,
    );
    const s2 = advance(
      s1.deployment,
      obs(() => staged([1])),
      1,
      timing,
    );
    expect(s2.goals).toEqual([]);
    expect(s2.events).toEqual([]);
    expect(s2.deployment).toEqual(s1.deployment);
  });

  it('fails without activating anything when staging fails on a host', () => {
    let s = advance(
      plan(),
      obs(() => staged([1])),
      0,
      timing,
    );
    s = advance(
      s.deployment,
      obs((id) =>
        id === 'c'
          ? { staged: [1], stagingFailed: { version: 2, error: 'chunk corrupt' }, active: null }
          : staged([1, 2]),
      ),
      5,
      timing,
    );
    expect(s.deployment.state).toBe('failed');
    expect(s.deployment.reason).toContain('host-c: chunk corrupt');
    expect(s.goals.every((g) => g.stage === null && !('active' in g))).toBe(true);
  });

  it('fails staging at the deadline', () => {
    let s = advance(
      plan(),
      obs(() => staged([1])),
      0,
      timing,
    );
    s = advance(
      s.deployment,
      obs(() => staged([1])),
      1000,
      timing,
    );
    expect(s.deployment.state).toBe('failed');
    expect(s.deployment.hosts[0]?.detail).toBe('not staged before the deadline');
  });

  it('halts a failing batch past the threshold and returns every touched host to its previous release', () => {
    let s = advance(
      plan(),
      obs(() => staged([1, 2])),
      0,
      timing,
    );
    expect(s.deployment.state).toBe('activating');
    s = advance(
      s.deployment,
      obs((id) =>
        staged(
          [1, 2],
          id === 'a'
            ? { version: 2, state: 'unhealthy', detail: 'HTTP 503' }
            : { version: 1, state: 'healthy', detail: null },
        ),
      ),
      10,
      timing,
    );
    expect(s.deployment.state).toBe('rolling_back');
    expect(s.goals).toEqual([
      { hostId: 'a', active: 1 },
      { hostId: 'b', active: 1 },
    ]);
    expect(s.deployment.reason).toContain('host-a: HTTP 503');
    s = advance(
      s.deployment,
      obs(() => staged([1, 2])),
      20,
      timing,
    );
    expect(s.deployment.state).toBe('rolled_back');
    expect(s.deployment.hosts.filter((h) => h.state === 'reverted').map((h) => h.hostId)).toEqual([
      'a',
      'b',
    ]);
    expect(s.deployment.hosts.filter((h) => h.state === 'staged').map((h) => h.hostId)).toEqual([
      'c',
      'd',
    ]);
  });

  it('tolerates failures within the threshold', () => {
    let s = advance(
      plan({ rollout: { batchSize: { count: 4 }, failureThreshold: { count: 1 } } }),
      obs(() => staged([1, 2])),
      0,
      timing,
    );
    s = advance(
      s.deployment,
      obs((id) =>
        staged([1, 2], { version: 2, state: id === 'a' ? 'unhealthy' : 'healthy', detail: null }),
      ),
      10,
      timing,
    );
    expect(s.deployment.state).toBe('succeeded');
    expect(s.deployment.reason).toContain('1 host(s) failed');
  });

  it('counts a host that never becomes healthy as failed at the deadline', () => {
    let s = advance(
      plan(),
      obs(() => staged([1, 2])),
      0,
      timing,
    );
    s = advance(
      s.deployment,
      obs(() => staged([1, 2], { version: 2, state: 'activating', detail: null })),
      500,
      timing,
    );
    expect(s.deployment.state).toBe('rolling_back');
    expect(s.deployment.reason).toContain('not healthy before the deadline');
  });

  it('lets no deadline pass before a restarted control plane has heard from the hosts', () => {
    const activating = obs(() => staged([1, 2], { version: 2, state: 'activating', detail: null }));
    let s = advance(
      plan(),
      obs(() => staged([1, 2])),
      0,
      timing,
    );
    // The server was down past the deadline and has just started again.
    const restarted = { ...timing, deadlinesNotBefore: 10_000 };
    s = advance(s.deployment, activating, 9_000, restarted);
    expect(s.deployment.state).toBe('activating');
    s = advance(s.deployment, activating, 10_000, restarted);
    expect(s.deployment.state).toBe('rolling_back');
    expect(s.deployment.reason).toContain('not healthy before the deadline');
  });

  it('rolls a first deployment back to nothing', () => {
    let s = advance(
      plan({ previous: new Map() }),
      obs(() => ({ staged: [2], stagingFailed: null, active: null })),
      0,
      timing,
    );
    s = advance(
      s.deployment,
      obs(() => ({
        staged: [2],
        stagingFailed: null,
        active: { version: 2, state: 'unhealthy', detail: 'x' },
      })),
      1,
      timing,
    );
    expect(s.goals).toEqual([
      { hostId: 'a', active: null },
      { hostId: 'b', active: null },
    ]);
    s = advance(
      s.deployment,
      obs(() => ({ staged: [2], stagingFailed: null, active: null })),
      2,
      timing,
    );
    expect(s.deployment.state).toBe('rolled_back');
  });

  it('cancels: nothing to undo while staging, a rollback while activating', () => {
    let s = advance(
      plan(),
      obs(() => staged([1])),
      0,
      timing,
    );
    const c1 = advance(
      requestCancel(s.deployment),
      obs(() => staged([1])),
      1,
      timing,
    );
    expect(c1.deployment.state).toBe('cancelled');
    s = advance(
      plan(),
      obs(() => staged([1, 2])),
      0,
      timing,
    );
    // The first batch is already running v2 when the cancel comes.
    const c2 = advance(
      requestCancel(s.deployment),
      obs(() => staged([1, 2], { version: 2, state: 'activating', detail: null })),
      1,
      timing,
    );
    expect(c2.deployment.state).toBe('rolling_back');
    expect(c2.goals).toEqual([
      { hostId: 'a', active: 1 },
      { hostId: 'b', active: 1 },
    ]);
    const c3 = advance(
      c2.deployment,
      obs(() => staged([1, 2])),
      2,
      timing,
    );
    expect(c3.deployment.state).toBe('cancelled');
  });

  it('pauses between batches, the batch under way finishing, and goes on when resumed', () => {
    const withActive = (ids: string[]) =>
      obs((id) =>
        staged([1, 2], {
          version: ids.includes(id) ? 2 : 1,
          state: 'healthy',
          detail: null,
        }),
      );
    // Asked while staging: it stages, then stops before the first batch.
    let s = advance(
      requestPause(plan(), true),
      obs(() => staged([1])),
      0,
      timing,
    );
    s = advance(s.deployment, withActive([]), 10, timing);
    expect(s.deployment.state).toBe('paused');
    expect(s.deployment.reason).toBe('paused before batch 1/2');
    expect(s.deployment.deadline).toBeNull();
    expect(s.goals.some((g) => 'active' in g)).toBe(false);
    // Long after: no deadline passes while paused.
    expect(advance(s.deployment, withActive([]), 1e9, timing).deployment.state).toBe('paused');
    s = advance(requestPause(s.deployment, false), withActive([]), 20, timing);
    expect(s.deployment.state).toBe('activating');
    expect(s.goals).toEqual([
      { hostId: 'a', active: 2 },
      { hostId: 'b', active: 2 },
    ]);
    // Asked during batch 1: batch 1 finishes, batch 2 waits.
    s = advance(requestPause(s.deployment, true), withActive(['a']), 30, timing);
    expect(s.deployment.state).toBe('activating');
    s = advance(s.deployment, withActive(['a', 'b']), 40, timing);
    expect(s.deployment.state).toBe('paused');
    expect(s.deployment.currentBatch).toBe(1);
    expect(s.goals).toEqual([]);
    // Cancelled while paused after a batch: the activated hosts go back.
    s = advance(requestCancel(s.deployment), withActive(['a', 'b']), 50, timing);
    expect(s.deployment.state).toBe('rolling_back');
    expect(s.goals).toEqual([
      { hostId: 'a', active: 1 },
      { hostId: 'b', active: 1 },
    ]);
    expect(() => requestPause({ ...s.deployment, state: 'succeeded' }, true)).toThrow(/has ended/);
  });

  it('plans batches region by region with percentages rounded up', () => {
    const d = plan({ rollout: { batchSize: { percent: 34 }, failureThreshold: { count: 0 } } });
    expect(d.batchCount).toBe(2);
    expect(d.hosts.map((h) => h.batch)).toEqual([0, 0, 1, 1]);
  });

  describe('four eyes', () => {
    const gated = () =>
      plan({ approval: { required: 2, requestedBy: 'user:dana', expiresAt: 10_000 } });
    const none = obs(() => staged([1]));

    it('waits, touching no host, until enough approvers other than the requester approve', () => {
      let d = gated();
      expect(d.state).toBe('awaiting_approval');
      let s = advance(d, none, 0, timing);
      expect(s.goals).toEqual([]);
      expect(s.deployment.state).toBe('awaiting_approval');
      expect(() => approve(d, 'user:dana', 1)).toThrow(/another approver must approve it/);
      d = approve(d, 'user:erin', 1);
      expect(() => approve(d, 'user:erin', 2)).toThrow(/already approved/);
      s = advance(d, none, 2, timing);
      expect(s.deployment.state).toBe('awaiting_approval');
      d = approve(s.deployment, 'user:frank', 3);
      s = advance(d, none, 4, timing);
      expect(s.deployment.state).toBe('staging');
      expect(s.deployment.deadline).toBe(4 + timing.stageTimeoutMs);
      expect(s.goals).toEqual(hosts.map((h) => ({ hostId: h.id, stage: 2 })));
      expect(s.deployment.approval?.approvals.map((a) => a.by)).toEqual([
        'user:erin',
        'user:frank',
      ]);
      // Once it runs there is nothing left to approve or reject.
      expect(() => approve(s.deployment, 'user:gina', 5)).toThrow(
        /it is staging, not awaiting approval/,
      );
      expect(() => reject(s.deployment, 'user:gina', 'late', 5)).toThrow(/not awaiting approval/);
    });

    it('ends rejected, expired or cancelled without touching a host', () => {
      const rejected = advance(reject(gated(), 'user:erin', 'market open', 1), none, 2, timing);
      expect(rejected.deployment.state).toBe('rejected');
      expect(rejected.deployment.reason).toBe('rejected by user:erin: market open');
      const expired = advance(approve(gated(), 'user:erin', 1), none, 10_000, timing);
      expect(expired.deployment.state).toBe('expired');
      expect(expired.deployment.reason).toMatch(/^not approved in time: 1 of 2 approval\(s\) by /);
      // Approvers, not hosts, were waited on: a restarted control plane's grace does not apply.
      const early = advance(gated(), none, 10_000, { ...timing, deadlinesNotBefore: 20_000 });
      expect(early.deployment.state).toBe('expired');
      const cancelled = advance(requestCancel(gated()), none, 1, timing);
      expect(cancelled.deployment.state).toBe('cancelled');
      for (const s of [rejected, expired, cancelled]) expect(s.goals).toEqual([]);
    });
  });
});
