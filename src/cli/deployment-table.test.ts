import { describe, expect, it } from 'vitest';
import type { DeploymentView } from '../api/index.js';
import { deploymentsTable } from './deployment-table.js';

function deployment(over: Partial<DeploymentView>): DeploymentView {
  return {
    id: '99857349-f36a-4c1e-9d1b-8a2f0c3e4b5d',
    service: 'scores-api',
    environment: 'production',
    kind: 'deploy',
    release: 3,
    imageId: 'a'.repeat(64),
    state: 'succeeded',
    currentBatch: 0,
    batchCount: 1,
    failureThreshold: 0,
    reason: null,
    approval: null,
    queuedBehind: null,
    waves: [],
    bake: null,
    hosts: [],
    createdAt: '2026-12-07T04:53:19.120Z',
    updatedAt: '2026-12-07T04:53:31.480Z',
    ...over,
  };
}

describe('deploymentsTable', () => {
  it('shows the short id, what went where, when it started and how long it took', () => {
    const now = Date.parse('2026-12-07T05:00:00Z');
    expect(
      deploymentsTable(
        [
          deployment({
            id: 'ab12cd34-0000-4000-8000-000000000000',
            state: 'staging',
            kind: 'stage',
            createdAt: '2026-12-07T04:58:30.000Z',
          }),
          deployment({ state: 'rolled_back', kind: 'rollback', release: 2 }),
        ],
        now,
      ),
    ).toBe(
      [
        'ID            SERVICE     ENV         KIND      RELEASE  STATE        STARTED (UTC)        TOOK',
        'ab12cd34-000  scores-api  production  stage     v3       staging      2026-12-07 04:58:30  1m30s so far',
        '99857349-f36  scores-api  production  rollback  v2       rolled back  2026-12-07 04:53:19  12.4s',
      ].join('\n'),
    );
  });
});
