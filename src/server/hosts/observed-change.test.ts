import { describe, expect, it } from 'vitest';
import { hostReport, type HostReport } from '../../api/index.js';
import { observedChanged } from './observed-change.js';

const service = (over: Record<string, unknown> = {}) => ({
  service: 'pricing',
  staged: [1, 2],
  stagingFailed: null,
  fetching: null,
  active: { version: 2, state: 'healthy', detail: null, port: 8080, pid: 10 },
  ...over,
});
const report = (services: unknown[], over: Record<string, unknown> = {}): HostReport =>
  hostReport.parse({ services, ...over });

describe('observedChanged', () => {
  const base = report([service()]);

  it('ignores what moves no deployment: progress, bytes, peer URL, pid', () => {
    const other = report([service({ fetching: { version: 3, bytesDone: 5, bytesTotal: 9 } })], {
      bytesServed: 99,
      peerUrl: 'http://10.0.0.1:7000',
      bytesReceived: { peer: 4 },
    });
    expect(observedChanged(base, other)).toBe(false);
    expect(
      observedChanged(base, report([service({ active: { ...service().active, pid: 11 } })])),
    ).toBe(false);
    expect(observedChanged(null, null)).toBe(false);
    expect(observedChanged(null, report([]))).toBe(false);
  });

  it('sees what a step reads: staged releases, staging failures, the active release', () => {
    expect(observedChanged(base, report([service({ staged: [1, 2, 3] })]))).toBe(true);
    expect(observedChanged(base, report([service({ staged: [1, 3] })]))).toBe(true);
    expect(
      observedChanged(base, report([service({ stagingFailed: { version: 3, error: 'disk' } })])),
    ).toBe(true);
    const failedOnce = report([service({ stagingFailed: { version: 3, error: 'disk' } })]);
    const failedAgain = report([service({ stagingFailed: { version: 3, error: 'net' } })]);
    expect(observedChanged(failedOnce, failedAgain)).toBe(true);
    for (const active of [
      null,
      { ...service().active, version: 1 },
      { ...service().active, state: 'unhealthy' },
      { ...service().active, detail: 'HTTP 500' },
    ])
      expect(observedChanged(base, report([service({ active })]))).toBe(true);
    expect(observedChanged(base, report([service(), service({ service: 'quotes' })]))).toBe(true);
    expect(observedChanged(base, null)).toBe(true);
  });
});
