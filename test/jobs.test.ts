/**
 * Jobs with real agents: `slipway run` gives a command to one or every matching host, which runs
 * it in a bubblewrap sandbox with the job's image as its files, streams its output back and
 * exits with its code; a script is uploaded as a one-file image; a job is cancelled, times out,
 * and is reported lost when its agent restarts under it.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, runCli, type ProcessCommands } from '../src/cli/index.js';
import { TestCluster } from './helpers/cluster.js';
import { until } from './helpers/until.js';

const AGENTS = [
  { name: 'j1', region: 'r1' },
  { name: 'j2', region: 'r1' },
  // One job at a time: the second waits, queued.
  { name: 'j3', region: 'r2', jobSlots: 1 },
];

const noProcesses = {} as ProcessCommands;
const run = promisify(execFile);

describe('jobs', () => {
  let c: TestCluster;
  beforeAll(async () => {
    c = await TestCluster.start(AGENTS);
  });
  afterAll(async () => {
    await c?.stop();
  });

  const cli = async (...args: string[]) => {
    const text = { stdout: '', stderr: '' };
    const code = await runCli(
      ['node', 'slipway', '--server', c.fleet.url, '--token', c.fleet.adminToken, ...args],
      noProcesses,
      {
        stdout: { write: (x: string) => (text.stdout += x) },
        stderr: { write: (x: string) => (text.stderr += x) },
      },
    );
    return { code, ...text };
  };

  it('runs a command on every host of a region, streams its output by host and exits with its code', async () => {
    const r = await cli(
      'run',
      '--each',
      '--region',
      'r1',
      '--',
      'sh',
      '-c',
      'echo "out of $(hostname) as $(id -u)"; echo "to stderr" >&2; exit 3',
    );
    expect(r.code).toBe(3);
    const lines = r.stdout.trim().split('\n').sort();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\[j1\] out of \S+ as 6100\d$/);
    expect(lines[1]).toMatch(/^\[j2\] out of \S+ as 6100\d$/);
    expect(r.stderr).toMatch(/^job [0-9a-f-]{12} on 2 host\(s\): j1, j2$/m);
    expect(r.stderr).toContain('[j1] to stderr');
    // The summary table: each host failed with 3, limits by prlimit.
    expect(r.stderr).toMatch(/j1\s+r1\s+failed\s+3/);
    expect(r.stderr).toMatch(/j2\s+r1\s+failed\s+3/);

    const [job] = await c.client.listJobs(1);
    expect(job).toMatchObject({ state: 'failed', placement: 'each' });
    expect(job!.runs.map((x) => [x.host, x.state, x.exitCode, x.limitsBy])).toEqual([
      ['j1', 'failed', 3, 'prlimit'],
      ['j2', 'failed', 3, 'prlimit'],
    ]);
    const logs = await cli('jobs', 'logs', job!.id.slice(0, 8), '--host', 'j2');
    expect(logs.stdout).toMatch(/^out of \S+ as 6100\d\n$/);
    expect(logs.stderr).toBe('to stderr\n');
    const list = await cli('jobs');
    expect(list.stdout).toMatch(
      new RegExp(`${job!.id.slice(0, 12)}\\s+failed\\s+0/2 ok\\s+3\\s+\\d+\\.\\ds\\s+sh -c`),
    );
  });

  it('runs an uploaded script with the image’s vendored library on one host, fetched like a release', async () => {
    const src = join(c.dir, 'job-image');
    await mkdir(join(src, 'site-packages', 'greeting'), { recursive: true });
    await writeFile(
      join(src, 'site-packages', 'greeting', '__init__.py'),
      'def hello(name):\n    return f"hello, {name}, from a vendored package"\n',
    );
    const image = (await buildImage(c.client, src, 'tools', ['py'], () => {})).imageId;
    const script = join(c.dir, 'hello.py');
    await writeFile(
      script,
      '#!/usr/bin/env python3\nimport sys, greeting\nprint(greeting.hello(sys.argv[1]))\n',
    );
    const r = await cli(
      'run',
      '--image',
      'tools:py',
      '--script',
      script,
      '--host',
      'j3',
      '--env',
      'PYTHONPATH=/job/site-packages',
      '--',
      'desk',
    );
    expect(r.stderr, r.stderr).toContain('on 1 host(s): j3');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('hello, desk, from a vendored package\n');
    const [job] = await c.client.listJobs(1);
    expect(job!.imageId).toBe(image);
    expect(job!.script).toBe('hello.py');
    const fetched = Object.values(job!.runs[0]!.bytesReceived).reduce((a, b) => a + b, 0);
    expect(fetched).toBeGreaterThan(0);
  });

  it('cancels a running job, killing what it started, and says so in its exit code', async () => {
    const job = await c.client.createJob({
      argv: ['sh', '-c', 'echo started; sleep 3011 & sleep 3012; echo never'],
      targets: { hosts: ['j1'] },
    });
    await until('the job to start', async () => {
      const out = await c.client.jobOutput(job.id, { waitMs: 1000 });
      return out.lines.some((l) => l.text === 'started');
    });
    const r = await cli('jobs', 'cancel', job.id);
    expect(r.code).toBe(0);
    const ended = await until('the job to end', async () => {
      const j = await c.client.getJob(job.id);
      return j.state !== 'running' && j;
    });
    expect(ended.state).toBe('cancelled');
    expect(ended.runs[0]).toMatchObject({ state: 'cancelled' });
    const follow = await cli('jobs', 'logs', job.id, '--follow');
    expect(follow.stdout).toBe('started\n');
    // Nothing it started is left: not the sleep in the background either.
    const { stdout } = await run('ps', ['-eo', 'args']);
    expect(stdout).not.toMatch(/^sleep 301[12]$/m);
  });

  it('kills a job at its timeout, and reports a job lost when its agent restarts under it', async () => {
    const timed = await cli('run', '--host', 'j2', '--timeout', '2s', '--', 'sleep', '60');
    expect(timed.code).toBe(124);
    expect(timed.stderr).toMatch(/j2\s+r1\s+timed_out/);

    const job = await c.client.createJob({
      argv: ['sh', '-c', 'echo up; sleep 3013'],
      targets: { hosts: ['j3'] },
    });
    await until('the job to run', async () => {
      const j = await c.client.getJob(job.id);
      return j.runs[0]!.state === 'running' && j;
    });
    await c.fleet.killAgent('j3');
    c.fleet.startAgent(AGENTS[2]!);
    const lost = await until(
      'the restarted agent to report the job lost',
      async () => {
        const j = await c.client.getJob(job.id);
        return j.state !== 'running' && j;
      },
      { timeoutMs: 30_000 },
    );
    expect(lost.runs[0]).toMatchObject({ state: 'lost' });
    expect(lost.runs[0]!.detail).toContain('restarted');
    // The job died with the agent that started it.
    expect((await run('ps', ['-eo', 'args'])).stdout).not.toMatch(/^sleep 3013$/m);
  });

  it('queues a job beyond the host’s slots, survives the CLI leaving, and is audited', async () => {
    const first = await cli(
      'run',
      '--host',
      'j3',
      '--detach',
      '--',
      'sh',
      '-c',
      'sleep 1; echo first',
    );
    expect(first.code).toBe(0);
    const second = await cli('run', '--host', 'j3', '--detach', '--', 'echo', 'second');
    const [id1, id2] = [first.stdout.trim(), second.stdout.trim()];
    await until('the second job to wait for the first', async () => {
      const j = await c.client.getJob(id2);
      return j.runs[0]!.state === 'queued';
    });
    // Both finish although no CLI follows them; their output is kept.
    const logs = await cli('jobs', 'logs', id2, '--follow');
    expect(logs.stdout).toBe('second\n');
    const [a, b] = [await c.client.getJob(id1), await c.client.getJob(id2)];
    expect([a.state, b.state]).toEqual(['succeeded', 'succeeded']);
    expect(Date.parse(b.runs[0]!.startedAt!)).toBeGreaterThanOrEqual(
      Date.parse(a.runs[0]!.endedAt!),
    );
    const audited = (await c.client.listAudit({ limit: 1000 })).filter(
      (e) => e.operation === 'createJob' || e.operation === 'cancelJob',
    );
    expect(audited.map((e) => `${e.actor} ${e.operation} ${e.result}`)).toContain(
      'user:admin cancelJob ok',
    );
    expect(audited.filter((e) => e.operation === 'createJob').length).toBeGreaterThanOrEqual(6);
  });

  it('refuses a job no host can take, saying why, and bad options before anything runs', async () => {
    const none = await cli('run', '--region', 'nowhere', '--', 'true');
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no online host to run the job on (region nowhere)');
    const bad = await cli('run', '--memory', 'lots', '--', 'true');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('"lots" is not a size');
  });
});
