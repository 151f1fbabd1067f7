import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentJobReport, GoalJob } from '../../api/index.js';
import { ObjectStore } from '../../image/index.js';
import { HostLayout } from '../host-layout.js';
import { JobRunner } from './job-runner.js';

const job = (id: string, over: Partial<GoalJob> = {}): GoalJob => ({
  id,
  imageId: null,
  script: null,
  argv: ['true'],
  env: {},
  network: false,
  limits: { timeoutMs: 60_000, memoryBytes: null, cpus: null, processes: 64 },
  started: false,
  cancel: false,
  ...over,
});

describe('the job runner', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  async function runner(probe: { ok: false; reason: string }, leftover: string[] = []) {
    const dir = await mkdtemp(join(tmpdir(), 'slipway-jobs-'));
    dirs.push(dir);
    for (const id of leftover) await mkdir(join(dir, 'jobs', id), { recursive: true });
    const sent: [string, AgentJobReport][] = [];
    const layout = new HostLayout(dir);
    const r = new JobRunner({
      layout,
      objects: new ObjectStore(layout.objects),
      fetchManifest: () => Promise.reject(new Error('no fetch in this test')),
      fetchOptions: () => ({}),
      send: (id, body) => {
        sent.push([id, body]);
        return Promise.resolve();
      },
      staging: (fn) => fn(),
      slots: 1,
      hostName: 'h1',
      log: () => {},
      probe: () => Promise.resolve(probe),
    });
    await r.init();
    const last = async (id: string, state: string) => {
      for (let i = 0; i < 100; i++) {
        const found = sent.filter(([j]) => j === id).at(-1)?.[1];
        if (found?.state === state) return found;
        await new Promise((res) => setTimeout(res, 20));
      }
      throw new Error(`no ${state} report for ${id}: ${JSON.stringify(sent)}`);
    };
    return { r, sent, last };
  }

  it('refuses a job, saying why, on a host that cannot sandbox: it never runs one bare', async () => {
    const { r, last } = await runner({ ok: false, reason: 'bubblewrap is not installed' });
    r.setJobs([job('a')]);
    const report = await last('a', 'refused');
    expect(report.detail).toBe('this host cannot sandbox jobs: bubblewrap is not installed');
    expect(report.exitCode).toBeNull();
  });

  it('reports a job lost that the goal says had started but this agent does not hold', async () => {
    const { r, last } = await runner({ ok: false, reason: 'unused' });
    r.setJobs([job('b', { started: true })]);
    expect((await last('b', 'lost')).detail).toContain('restarted while the job ran');
  });

  it('reports a job lost that an earlier agent had taken up, though its saved goal says not started', async () => {
    const { r, last } = await runner({ ok: false, reason: 'unused' }, ['d']);
    r.setJobs([job('d')]);
    expect((await last('d', 'lost')).detail).toContain('restarted while the job ran');
    expect(await readdir(join(dirs[0]!, 'jobs'))).toEqual([]);
  });

  it('ends a job cancelled before it started without running it, and does not take it twice', async () => {
    const { r, sent, last } = await runner({ ok: false, reason: 'unused' });
    r.setJobs([job('c', { cancel: true })]);
    await last('c', 'cancelled');
    // The same goal again (not updated yet): nothing more happens to it.
    r.setJobs([job('c', { cancel: true })]);
    await new Promise((res) => setTimeout(res, 400));
    expect(sent.filter(([id]) => id === 'c')).toHaveLength(1);
  });
});
