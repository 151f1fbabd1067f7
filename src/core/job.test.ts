import { describe, expect, it } from 'vitest';
import { jobExitCode, jobStateOf, parseLabelSelector, placeJob, type JobCandidate } from './job.js';

const host = (name: string, region: string, busy = 0, online = true): JobCandidate => ({
  id: `id-${name}`,
  name,
  region,
  labels: { tier: name.startsWith('web') ? 'web' : 'db' },
  online,
  busy,
});
const fleet = [
  host('web-1', 'eu', 2),
  host('web-2', 'eu', 0),
  host('web-3', 'us', 0),
  host('db-1', 'eu', 0, false),
];
const none = { hosts: [], regions: [], labels: {} };

describe('placing a job', () => {
  it('puts an --each job on every online match and says which were left out', () => {
    const { hosts, skipped } = placeJob(fleet, { ...none, regions: ['eu'] }, 'each', Math.random);
    expect(hosts.map((h) => h.name)).toEqual(['web-1', 'web-2']);
    expect(skipped).toEqual(['db-1: offline']);
  });

  it('puts an --any job on the least busy match', () => {
    const picks = new Set(
      [0, 0.5, 0.99].map(
        (r) => placeJob(fleet, { ...none, labels: { tier: 'web' } }, 'any', () => r).hosts[0]!.name,
      ),
    );
    expect(picks).toEqual(new Set(['web-2', 'web-3']));
  });

  it('names hosts that do not exist, and refuses when no host is left', () => {
    const named = placeJob(fleet, { ...none, hosts: ['web-1', 'nope'] }, 'each', Math.random);
    expect(named.skipped).toEqual(['nope: no such host']);
    expect(() => placeJob(fleet, { ...none, hosts: ['db-1'] }, 'each', Math.random)).toThrow(
      /no online host to run the job on \(host db-1\)/,
    );
    expect(() => placeJob(fleet, { ...none, regions: ['ap'] }, 'any', Math.random)).toThrow(
      /region ap/,
    );
  });
});

describe('a job’s state and exit code', () => {
  it('runs while any run runs, succeeds only when all did', () => {
    expect(jobStateOf([{ state: 'succeeded' }, { state: 'running' }])).toBe('running');
    expect(jobStateOf([{ state: 'succeeded' }, { state: 'succeeded' }])).toBe('succeeded');
    expect(jobStateOf([{ state: 'succeeded' }, { state: 'lost' }])).toBe('failed');
    expect(jobStateOf([{ state: 'cancelled' }, { state: 'failed' }])).toBe('cancelled');
  });

  it('gives back the first failure’s code, as a shell would for a timeout or a cancel', () => {
    expect(jobExitCode([{ state: 'succeeded', exitCode: 0 }])).toBe(0);
    expect(
      jobExitCode([
        { state: 'succeeded', exitCode: 0 },
        { state: 'failed', exitCode: 3 },
      ]),
    ).toBe(3);
    expect(jobExitCode([{ state: 'timed_out', exitCode: null }])).toBe(124);
    expect(jobExitCode([{ state: 'cancelled', exitCode: null }])).toBe(130);
    expect(jobExitCode([{ state: 'lost', exitCode: null }])).toBe(1);
    expect(jobExitCode([{ state: 'failed', exitCode: null }])).toBe(1);
  });
});

describe('label selectors', () => {
  it('parses key=value pairs and says what is wrong with the rest', () => {
    expect(parseLabelSelector('tier=web, zone=a')).toEqual({ tier: 'web', zone: 'a' });
    expect(() => parseLabelSelector('tier')).toThrow(/invalid selector/);
  });
});
