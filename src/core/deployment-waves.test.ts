import { describe, expect, it } from 'vitest';
import { advance } from './deployment.js';
import type { Deployment, GateVerdict, HostObservation, StepContext } from './deployment-model.js';
import { requestCancel } from './deployment-requests.js';
import { planDeployment } from './planner.js';
import type { GateSpec, HostInfo, WaveSpec } from './types.js';

const timing: StepContext = { stageTimeoutMs: 1000, activateTimeoutMs: 500, revertTimeoutMs: 500 };
/** Six hosts: a, b in eu; c, d, e, f in us. */
const hosts: HostInfo[] = ['a', 'b', 'c', 'd', 'e', 'f'].map((n, i) => ({
  id: n,
  name: `host-${n}`,
  region: i < 2 ? 'eu' : 'us',
  labels: {},
}));
const gate: GateSpec = { kind: 'http', url: 'http://metrics/errors', min: null, max: 1 };

function wave(over: Partial<WaveSpec> & { name: string }): WaveSpec {
  return {
    hosts: null,
    regions: [],
    batchSize: null,
    failureThreshold: null,
    bakeMs: 0,
    gates: [],
    ...over,
  };
}

function plan(waves: WaveSpec[], stage: 'all' | 'per-wave' = 'all'): Deployment {
  return planDeployment({
    id: 'd',
    service: 'svc',
    environment: 'prod',
    kind: 'deploy',
    release: 2,
    hosts,
    previous: new Map(hosts.map((h) => [h.id, 1])),
    rollout: { batchSize: { count: 2 }, failureThreshold: { count: 0 }, waves, stage },
  });
}

const CANARY_THEN_REST = [
  wave({ name: 'canary', hosts: { count: 1 }, bakeMs: 60_000 }),
  wave({ name: 'eu', regions: ['eu'], bakeMs: 30_000, gates: [gate] }),
  wave({ name: 'rest', batchSize: { percent: 50 } }),
];

/** Every host: releases 1 and 2 staged, `active` healthy unless said otherwise. */
function reports(active: (id: string) => HostObservation['active']): Map<string, HostObservation> {
  return new Map(
    hosts.map((h) => [h.id, { staged: [1, 2], stagingFailed: null, active: active(h.id) }]),
  );
}
const on = (version: number, state: 'healthy' | 'unhealthy' = 'healthy') => ({
  version,
  state,
  detail: state === 'unhealthy' ? 'HTTP 500' : null,
});

/** Hosts of batches up to and including `batch` run release 2, the rest release 1. */
const upTo = (d: Deployment, batch: number) =>
  reports((id) => on(d.hosts.find((h) => h.hostId === id)!.batch <= batch ? 2 : 1));

/** CANARY_THEN_REST staged everywhere and its canary healthy: baking until 61 s. */
function canaryBaking(): Deployment {
  const d = advance(
    plan(CANARY_THEN_REST),
    reports(() => on(1)),
    0,
    timing,
  ).deployment;
  return advance(d, upTo(d, 0), 1_000, timing).deployment;
}

const verdict = (value: number, at: number): GateVerdict => ({
  at,
  readings: [
    { gate: gate.url, value, ok: value <= 1, problem: value <= 1 ? null : `${value} > max 1`, at },
  ],
});

describe('planning waves', () => {
  it('takes each wave’s hosts from those left, batches them by its own size, numbers batches across waves', () => {
    const d = plan(CANARY_THEN_REST);
    const byBatch = (b: number) => d.hosts.filter((h) => h.batch === b).map((h) => h.hostId);
    // canary: the first host; eu: b (a is taken); rest: c-f in batches of 50%.
    expect([0, 1, 2, 3].map(byBatch)).toEqual([['a'], ['b'], ['c', 'd'], ['e', 'f']]);
    expect(d.batchCount).toBe(4);
    expect(d.waves!.map((w) => [w.name, w.firstBatch, w.batchCount])).toEqual([
      ['canary', 0, 1],
      ['eu', 1, 1],
      ['rest', 2, 2],
    ]);
  });

  it('puts the hosts no wave took into the last, and skips a wave no host fell to', () => {
    const d = plan([
      wave({ name: 'asia', regions: ['ap'] }),
      wave({ name: 'eu', regions: ['eu'], hosts: { percent: 50 } }),
    ]);
    expect(d.waves!.map((w) => [w.name, w.batchCount])).toEqual([
      ['asia', 0],
      ['eu', 3],
    ]);
    expect(d.hosts.map((h) => h.hostId)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
  });
});

describe('a deployment in waves', () => {
  it('bakes each wave, holds on its gates, and goes on only once the bake is over', () => {
    let d = plan(CANARY_THEN_REST);
    // Staged everywhere: the canary's one batch starts.
    d = advance(
      d,
      reports(() => on(1)),
      0,
      timing,
    ).deployment;
    expect([d.state, d.currentBatch]).toEqual(['activating', 0]);
    // The canary is healthy: it bakes a minute.
    let s = advance(d, upTo(d, 0), 1_000, timing);
    d = s.deployment;
    expect(d.state).toBe('baking');
    expect(d.bake).toMatchObject({ wave: 0, until: 61_000 });
    expect(s.events.map((e) => e.type)).toContain('wave.baking');
    // Not before the bake is over.
    d = advance(d, upTo(d, 0), 30_000, timing).deployment;
    expect(d.state).toBe('baking');
    s = advance(d, upTo(d, 0), 61_000, timing);
    d = s.deployment;
    expect([d.state, d.currentBatch]).toEqual(['activating', 1]);
    expect(s.events.map((e) => e.type)).toContain('wave.passed');
    // eu is healthy and bakes with its gate: a reading taken during the bake does not pass it.
    d = advance(d, upTo(d, 1), 62_000, timing).deployment;
    expect(d.state).toBe('baking');
    s = advance(d, upTo(d, 1), 92_000, { ...timing, gates: verdict(0.2, 80_000) });
    d = s.deployment;
    expect(d.state).toBe('baking');
    expect(d.bake!.readings).toEqual(verdict(0.2, 80_000).readings);
    expect(s.events.filter((e) => e.type === 'wave.gates')).toHaveLength(1);
    // One taken after it does.
    d = advance(d, upTo(d, 1), 93_000, { ...timing, gates: verdict(0.3, 92_500) }).deployment;
    expect([d.state, d.currentBatch]).toEqual(['activating', 2]);
    // The last wave bakes nothing: two batches, then success.
    d = advance(d, upTo(d, 2), 94_000, timing).deployment;
    expect(d.currentBatch).toBe(3);
    d = advance(d, upTo(d, 3), 95_000, timing).deployment;
    expect(d.state).toBe('succeeded');
  });

  it('rolls back every host it touched, in every wave, when a gate fails', () => {
    let d = canaryBaking();
    d = advance(d, upTo(d, 0), 61_000, timing).deployment;
    d = advance(d, upTo(d, 1), 62_000, timing).deployment;
    const s = advance(d, upTo(d, 1), 70_000, { ...timing, gates: verdict(7, 69_000) });
    expect(s.deployment.state).toBe('rolling_back');
    expect(s.deployment.reason).toBe(`wave eu: gate ${gate.url}: 7 > max 1`);
    // The canary (wave 1) and eu's host (wave 2) go back to release 1; the rest were never touched.
    expect(s.goals).toEqual([
      { hostId: 'a', active: 1 },
      { hostId: 'b', active: 1 },
    ]);
    expect(s.deployment.bake).toBeNull();
  });

  it('fails a wave whose host turns unhealthy during the bake', () => {
    const d = canaryBaking();
    const s = advance(
      d,
      reports((id) => (id === 'a' ? on(2, 'unhealthy') : on(1))),
      20_000,
      timing,
    );
    expect(s.deployment.state).toBe('rolling_back');
    expect(s.deployment.reason).toMatch(
      /^wave canary: 1 host\(s\) of batch 1\/4 failed during the bake/,
    );
    expect(s.deployment.hosts[0]).toMatchObject({ hostId: 'a', state: 'reverting' });
  });

  it('rolls back what baked when cancelled during a bake', () => {
    let d = canaryBaking();
    d = requestCancel(d);
    d = advance(d, upTo(d, 0), 2_000, timing).deployment;
    expect(d.state).toBe('rolling_back');
    d = advance(
      d,
      reports(() => on(1)),
      3_000,
      timing,
    ).deployment;
    expect(d.state).toBe('cancelled');
  });

  it('pauses at the next wave while its window is closed, and goes on when it opens', () => {
    let d = canaryBaking();
    const closed = { ...timing, windowClosed: 'outside its deploy windows until 17:00 UTC' };
    // The canary's bake finishes (the wave under way ends), then it stops before eu.
    d = advance(d, upTo(d, 0), 61_000, closed).deployment;
    expect(d.state).toBe('paused');
    expect(d.reason).toBe('paused before wave eu: outside its deploy windows until 17:00 UTC');
    expect(d.currentBatch).toBe(1);
    d = advance(d, upTo(d, 0), 62_000, closed).deployment;
    expect(d.state).toBe('paused');
    d = advance(d, upTo(d, 0), 63_000, timing).deployment;
    expect([d.state, d.currentBatch, d.pauseRequested, d.pausedBy]).toEqual([
      'activating',
      1,
      false,
      null,
    ]);
  });

  /** Hosts in `withRelease` have release 2 on disk, those in `running` run it, healthy. */
  const seen = (withRelease: string[], running: string[] = [], failing: string[] = []) =>
    new Map(
      hosts.map((h) => [
        h.id,
        {
          staged: withRelease.includes(h.id) ? [1, 2] : [1],
          stagingFailed: failing.includes(h.id) ? { version: 2, error: 'disk full' } : null,
          active: on(running.includes(h.id) ? 2 : 1),
        },
      ]),
    );

  it('stages each wave just before it starts, with per-wave staging', () => {
    const waves = [wave({ name: 'canary', hosts: { count: 1 } }), wave({ name: 'rest' })];
    let s = advance(plan(waves, 'per-wave'), seen([]), 0, timing);
    // Only the canary is staged first.
    expect(s.goals).toEqual([{ hostId: 'a', stage: 2 }]);
    expect(s.deployment.hosts.map((h) => h.state)).toEqual([
      'staging',
      'pending',
      'pending',
      'pending',
      'pending',
      'pending',
    ]);
    s = advance(s.deployment, seen(['a']), 100, timing);
    expect([s.deployment.state, s.deployment.currentBatch]).toEqual(['activating', 0]);
    // The canary is healthy: the rest is staged now, then activated.
    s = advance(s.deployment, seen(['a'], ['a']), 200, timing);
    expect(s.deployment.state).toBe('staging');
    expect(s.goals.map((g) => g.hostId)).toEqual(['b', 'c', 'd', 'e', 'f']);
    const all = ['a', 'b', 'c', 'd', 'e', 'f'];
    s = advance(s.deployment, seen(all, ['a']), 300, timing);
    expect([s.deployment.state, s.deployment.currentBatch]).toEqual(['activating', 1]);
  });

  it('rolls back the waves that ran when staging a later one fails', () => {
    const waves = [wave({ name: 'canary', hosts: { count: 1 } }), wave({ name: 'rest' })];
    let d = advance(plan(waves, 'per-wave'), seen([]), 0, timing).deployment;
    d = advance(d, seen(['a']), 100, timing).deployment;
    d = advance(d, seen(['a'], ['a']), 200, timing).deployment;
    expect(d.state).toBe('staging');
    const s = advance(d, seen(['a', 'b'], ['a'], ['c']), 300, timing);
    expect(s.deployment.state).toBe('rolling_back');
    expect(s.deployment.reason).toBe('staging failed on 1 host(s), first host-c: disk full');
    expect(s.goals).toContainEqual({ hostId: 'a', active: 1 });
  });
});
