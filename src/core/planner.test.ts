import { describe, expect, it } from 'vitest';
import { planDeployment, type PlanInput } from './planner.js';
import type { HostInfo } from './types.js';

function hosts(n: number): HostInfo[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `id-${i}`,
    name: `h${i}`,
    region: i < n / 2 ? 'r1' : 'r2',
    labels: {},
  }));
}

function input(over: Partial<PlanInput> = {}): PlanInput {
  return {
    id: 'd1',
    service: 'api',
    environment: 'prod',
    kind: 'deploy',
    release: 3,
    hosts: hosts(5),
    previous: new Map(),
    rollout: { batchSize: { count: 2 }, failureThreshold: { count: 0 } },
    ...over,
  };
}

describe('planDeployment', () => {
  it('batches hosts in the given order by the batch size', () => {
    const d = planDeployment(input());
    expect(d.batchCount).toBe(3);
    expect(d.hosts.map((h) => [h.hostName, h.batch])).toEqual([
      ['h0', 0],
      ['h1', 0],
      ['h2', 1],
      ['h3', 1],
      ['h4', 2],
    ]);
    expect(d.state).toBe('staging');
    expect(d.hosts.every((h) => h.state === 'pending')).toBe(true);
  });

  it('resolves a percentage batch size against the number of hosts, rounding up', () => {
    const d = planDeployment(
      input({ rollout: { batchSize: { percent: 50 }, failureThreshold: { count: 0 } } }),
    );
    // 50% of 5 is 2.5: batches of 3, so two batches.
    expect(d.batchCount).toBe(2);
    expect(d.hosts.filter((h) => h.batch === 0)).toHaveLength(3);
  });

  it('never makes batches of zero hosts', () => {
    const d = planDeployment(
      input({ rollout: { batchSize: { percent: 1 }, failureThreshold: { count: 0 } } }),
    );
    expect(d.batchCount).toBe(5);
  });

  it('resolves the failure threshold per batch', () => {
    const d = planDeployment(
      input({
        hosts: hosts(10),
        rollout: { batchSize: { count: 4 }, failureThreshold: { percent: 50 } },
      }),
    );
    expect(d.failureThreshold).toBe(2);
  });

  it('records the release each host runs now, for rollback', () => {
    const d = planDeployment(input({ previous: new Map([['id-1', 2]]) }));
    expect(d.hosts.map((h) => h.previous)).toEqual([null, 2, null, null, null]);
  });

  it('plans one empty batch when there are no hosts', () => {
    const d = planDeployment(input({ hosts: [] }));
    expect(d.batchCount).toBe(1);
    expect(d.hosts).toEqual([]);
  });
});
