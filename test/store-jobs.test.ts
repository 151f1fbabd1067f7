/** Jobs in the store behave the same over embedded PGlite and a real PostgreSQL server. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type JobSpec, type Store } from '../src/store/index.js';
import { freshPostgresUrl } from './helpers/fresh-postgres.js';

const engines: [string, () => Promise<Store>][] = [
  ['pglite', () => openStore({ engine: 'pglite', dataDir: null })],
  ['postgres', async () => openStore({ engine: 'postgres', url: await freshPostgresUrl() })],
];

const spec = (outputLimitBytes: number): JobSpec => ({
  imageId: null,
  service: null,
  release: null,
  script: null,
  argv: ['echo', 'hi'],
  env: { A: '1' },
  network: false,
  limits: { timeoutMs: 60_000, memoryBytes: null, cpus: null, processes: 64 },
  placement: 'each',
  targets: { hosts: [], regions: ['eu'], labels: {} },
  outputLimitBytes,
});

const STARTED = new Date('2026-12-01T10:00:00Z');
/** A job on both hosts of the test. */
const onBoth = (id: string, outputLimitBytes: number, skipped: string[] = []) => ({
  id,
  createdBy: 'user:admin',
  spec: spec(outputLimitBytes),
  skipped,
  hosts: [
    { id: 'h1', name: 'host-h1', region: 'eu' },
    { id: 'h2', name: 'host-h2', region: 'eu' },
  ],
});
const line = (text: string) => ({ stream: 'stdout' as const, text, at: new Date() });
const report = (state: 'running' | 'succeeded' | 'failed', lines: string[], exitCode = null) => ({
  state,
  exitCode,
  signal: null,
  detail: null,
  limitsBy: 'prlimit',
  bytesReceived: { peer: 10 },
  startedAt: STARTED,
  durationMs: state === 'running' ? null : 1_500,
  lines: lines.map(line),
});

describe.each(engines)('jobs in the store over %s', (_name, open) => {
  let store: Store;
  beforeAll(async () => {
    store = await open();
    for (const id of ['h1', 'h2'])
      await store.hosts.add({ id, name: `host-${id}`, region: 'eu', labels: {} });
  });
  afterAll(async () => {
    await store.close();
  });

  const generation = async (id: string) => (await store.hosts.byId(id))!.goalGeneration;

  it('gives each host a run, moves their goal generations, and names the runs in their goals', async () => {
    const before = await generation('h1');
    await store.transaction((tx) => tx.jobs.add(onBoth('job-a', 1024, ['host-x: offline'])));
    expect(await generation('h1')).toBe(before + 1);
    const job = await store.jobs.get('job-a');
    expect(job?.spec).toEqual(spec(1024));
    expect(job?.skipped).toEqual(['host-x: offline']);
    expect(job?.runs.map((r) => [r.hostName, r.state])).toEqual([
      ['host-h1', 'assigned'],
      ['host-h2', 'assigned'],
    ]);
    expect((await store.jobs.openOnHosts(['h1'])).map((r) => [r.jobId, r.state])).toEqual([
      ['job-a', 'assigned'],
    ]);
    expect(await store.jobs.busy()).toEqual(
      new Map([
        ['h1', 1],
        ['h2', 1],
      ]),
    );
    expect(await store.jobs.idsWithPrefix('job-', 10)).toEqual(['job-a']);
  });

  it('numbers output lines per job, keeps the tail of a run past the limit, and ends runs', async () => {
    const g = await generation('h1');
    expect(await store.jobs.report('job-a', 'h1', report('running', ['one', 'two']))).toBe(
      'started',
    );
    // Started: the goal says so (generation moved); more output does not move it.
    expect(await generation('h1')).toBe(g + 1);
    expect(await store.jobs.report('job-a', 'h2', report('running', ['x']))).toBe('started');
    expect(await store.jobs.report('job-a', 'h1', report('running', ['three']))).toBe('open');
    expect(await generation('h1')).toBe(g + 1);
    const all = await store.jobs.output('job-a', 0, 100);
    expect(all.map((l) => [l.seq, l.hostId, l.text])).toEqual([
      [1, 'h1', 'one'],
      [2, 'h1', 'two'],
      [3, 'h2', 'x'],
      [4, 'h1', 'three'],
    ]);
    expect((await store.jobs.output('job-a', 2, 100, 'h1')).map((l) => l.text)).toEqual(['three']);
    // 1,024 bytes kept: 30 lines of 100 bytes keep the last 10 (101 bytes each with the newline).
    const long = Array.from({ length: 30 }, (_, i) => `${i}`.padStart(100, '.'));
    await store.jobs.report('job-a', 'h1', report('running', long));
    const kept = await store.jobs.output('job-a', 0, 100, 'h1');
    expect(kept.map((l) => l.text)).toEqual(long.slice(20));
    const run = (await store.jobs.get('job-a'))!.runs.find((r) => r.hostId === 'h1')!;
    expect(run.outputBytes).toBe(1010);
    expect(run.outputDropped).toBe(4 + 4 + 6 + 20 * 101);
    expect((await store.jobs.output('job-a', 0, 100)).at(-1)?.seq).toBe(34);

    expect(await store.jobs.report('job-a', 'h1', report('failed', [], 3 as never))).toBe('ended');
    expect(await store.jobs.report('job-a', 'h1', report('running', ['late']))).toBe('gone');
    const ended = (await store.jobs.get('job-a'))!.runs.find((r) => r.hostId === 'h1')!;
    expect(ended).toMatchObject({ state: 'failed', exitCode: 3, limitsBy: 'prlimit' });
    // By the host's clock: when it started, and how long it ran.
    expect(ended.startedAt).toEqual(STARTED);
    expect(ended.endedAt).toEqual(new Date(STARTED.getTime() + 1_500));
    expect(await store.jobs.openOnHosts(['h1'])).toEqual([]);
  });

  it('cancels: a run not taken up ends at once, a running one is asked to stop', async () => {
    await store.jobs.add(onBoth('job-b', 4096));
    await store.jobs.report('job-b', 'h2', report('running', []));
    expect((await store.jobs.requestCancel('job-b')).sort()).toEqual(['h1', 'h2']);
    const job = (await store.jobs.get('job-b'))!;
    expect(job.cancelRequested).toBe(true);
    expect(job.runs.map((r) => [r.hostId, r.state])).toEqual([
      ['h1', 'cancelled'],
      ['h2', 'running'],
    ]);
    expect((await store.jobs.openOnHosts(['h2'])).map((r) => r.cancelRequested)).toContain(true);
    await store.jobs.endRunsOfHost('h2', 'lost', 'the host was removed');
    expect(await store.jobs.openOnHosts(['h2'])).toEqual([]);
    expect((await store.jobs.list(10)).map((j) => j.id)).toEqual(['job-b', 'job-a']);
  });

  it('ends runs a host never took up or never finished as lost, and removes old ended jobs', async () => {
    await store.jobs.add(onBoth('job-c', 4096));
    // h2 says it started a week ago (a 60 s job): it is long overdue; h1 was given it just now.
    await store.jobs.report('job-c', 'h2', report('running', []));
    const g = await generation('h2');
    const first = await store.jobs.endOverdue(3_600_000, 300_000);
    expect(first.map((r) => `${r.jobId}@${r.hostId}`)).toEqual(['job-c@h2']);
    expect(await generation('h2')).toBe(g + 1);
    const lost = (await store.jobs.get('job-c'))!.runs.find((r) => r.hostId === 'h2')!;
    expect(lost).toMatchObject({ state: 'lost' });
    expect(lost.detail).toContain('did not say how the job ended');
    // With no time to take a job up, h1's run is lost too.
    await new Promise((r) => setTimeout(r, 20));
    expect((await store.jobs.endOverdue(0, 300_000)).map((r) => r.hostId)).toEqual(['h1']);
    expect(await store.jobs.openOnHosts(['h1', 'h2'])).toEqual([]);

    expect(await store.jobs.removeEndedBefore(new Date(Date.now() - 3_600_000))).toBe(0);
    expect(await store.jobs.removeEndedBefore(new Date(Date.now() + 3_600_000))).toBe(3);
    expect(await store.jobs.list(10)).toEqual([]);
    expect(await store.jobs.output('job-a', 0, 100)).toEqual([]);
  });
});
