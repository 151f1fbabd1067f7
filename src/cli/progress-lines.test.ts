import { describe, expect, it } from 'vitest';
import type { SlipwayEvent } from '../api/index.js';
import { ProgressLines, type Followed } from './progress-lines.js';

function host(hostId: string, previous: number | null): Followed['hosts'][number] {
  return {
    hostId,
    hostName: hostId,
    region: 'r1',
    batch: 0,
    previous,
    state: 'pending',
    detail: null,
    bytesDone: null,
    bytesTotal: null,
  };
}

let nextId = 1;
function event(type: string, data: Record<string, unknown>): SlipwayEvent {
  return { id: nextId++, at: '2026-12-07T05:00:00Z', deploymentId: 'd', type, actor: null, data };
}
const hostsState = (hostIds: string[], state: string, detail: string | null = null) =>
  event('hosts.state', {
    state,
    detail,
    hosts: hostIds.map((id) => ({ hostId: id, hostName: id })),
  });
const hostState = (hostId: string, state: string, detail: string | null = null) =>
  hostsState([hostId], state, detail);

describe('progress lines', () => {
  it('says a host had the release on disk instead of fetching it', () => {
    // `rollback --to v1`: web-1 still has v1, web-22 does not.
    const lines = new ProgressLines({
      release: 1,
      batchCount: 1,
      hosts: [host('web-1', 2), host('web-22', 2)],
    });
    expect(lines.event(hostState('web-1', 'staged', 'already on disk'))).toEqual([
      '  web-1   v1 already on disk',
    ]);
    expect(lines.event(hostState('web-22', 'staging'))).toEqual(['  web-22  fetching']);
    expect(lines.fetching('web-22', 1536, 4096)).toBe('  web-22  fetching 1.5 KiB / 4.0 KiB');
    expect(lines.event(hostState('web-22', 'staged'))).toEqual(['  web-22  staged']);
  });

  it('after a failed activation, names the release a host is back on and the one that failed', () => {
    const lines = new ProgressLines({
      release: 3,
      batchCount: 2,
      hosts: [host('web-1', 2), host('web-2', 2), host('new-1', null)],
    });
    const failure = 'HTTP 404 (not healthy after 10.0s)';
    expect(
      [
        event('deployment.state', { state: 'activating', reason: null }),
        event('batch.started', { batch: 0, hosts: ['web-1', 'web-2', 'new-1'] }),
        hostState('web-1', 'activating'),
        hostState('web-2', 'healthy'),
        hostState('web-1', 'failed', failure),
        event('deployment.state', { state: 'rolling_back', reason: 'batch 1/2: 1 host(s) failed' }),
        hostState('web-1', 'reverting', failure),
        hostsState(['web-2', 'new-1'], 'reverting'),
        hostState('web-1', 'reverted', failure),
        hostsState(['web-2', 'new-1'], 'reverted'),
        event('deployment.state', { state: 'rolled_back', reason: 'batch 1/2: 1 host(s) failed' }),
      ].flatMap((e) => lines.event(e)),
    ).toEqual([
      '  every host staged',
      '  batch 1/2: activating web-1, web-2, new-1',
      '  web-1  activating',
      '  web-2  healthy',
      `  web-1  FAILED: ${failure}`,
      '  rolling back: batch 1/2: 1 host(s) failed',
      `  web-1  returning to v2 (v3 failed: ${failure})`,
      '  web-2  returning to v2',
      '  new-1  stopping v3 (no release ran before)',
      `  web-1  back on v2 (v3 failed: ${failure})`,
      '  web-2  back on v2',
      '  new-1  stopped v3 (no release ran before)',
    ]);
  });

  it('says a removed host is gone, not back on a release', () => {
    const lines = new ProgressLines({ release: 3, batchCount: 1, hosts: [host('web-1', 2)] });
    expect(
      lines.event(hostState('web-1', 'reverted', 'the host was removed (slipway hosts remove)')),
    ).toEqual(['  web-1  gone: the host was removed (slipway hosts remove)']);
  });
});
