import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HealthSpec } from '../core/index.js';
import { until } from '../../test/helpers/until.js';
import { freePort } from './free-port.js';
import { probeOnce, waitHealthy } from './health.js';
import {
  isAlive,
  isSameProcessAlive,
  killStaleProcessGroup,
  readPidFile,
  writePidFile,
} from './process-group.js';
import { runCommand } from './run-command.js';
import { Supervisor, type SupervisorEvent } from './supervisor.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-exec-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('runCommand', () => {
  it('runs an argv without a shell and captures its output and exit code', async () => {
    const r = await runCommand([
      'node',
      '-e',
      'console.log(process.argv[1]); process.exit(3)',
      '$HOME;x',
    ]);
    expect(r.stdout.trim()).toBe('$HOME;x');
    expect(r.code).toBe(3);
  });

  it('kills a command that runs past its timeout, with its children', async () => {
    const r = await runCommand(['/bin/sh', '-c', 'sleep 30 & sleep 30'], { timeoutMs: 200 });
    expect(r.timedOut).toBe(true);
  });

  it('refuses an empty command', async () => {
    await expect(runCommand([])).rejects.toThrow(/empty command/);
  });
});

describe('Supervisor', () => {
  it('runs the process with its env, keeps its output and restarts it with backoff', async () => {
    const events: SupervisorEvent[] = [];
    const sup = new Supervisor({
      run: { argv: ['node', '-e', 'console.log("hello " + process.env.WHO); process.exit(1)'] },
      cwd: dir,
      env: { ...process.env, WHO: 'world' },
      logDir: join(dir, 'logs'),
      pidFile: join(dir, 'pid'),
      backoff: { initialMs: 50, maxMs: 400, resetAfterMs: 60_000 },
      random: () => 0, // no jitter taken off: the waits are exact
      onEvent: (e) => events.push(e),
    });
    sup.start();
    await until('three restarts', () => sup.restarts >= 3);
    await sup.stop();
    const delays = events.flatMap((e) => (e.type === 'exited' ? [e.restartInMs] : []));
    expect(delays.slice(0, 3)).toEqual([50, 100, 200]);
    expect(await readFile(join(dir, 'logs', 'stdout.log'), 'utf8')).toContain('hello world');
  });

  it('waits less by a random share of each restart wait, never more', async () => {
    const events: SupervisorEvent[] = [];
    const sup = new Supervisor({
      run: { argv: ['node', '-e', 'process.exit(1)'] },
      cwd: dir,
      env: process.env as Record<string, string>,
      logDir: join(dir, 'logs'),
      pidFile: join(dir, 'pid'),
      backoff: { initialMs: 40, maxMs: 80, resetAfterMs: 60_000 },
      random: () => 0.5,
      onEvent: (e) => events.push(e),
    });
    sup.start();
    await until('three restarts', () => sup.restarts >= 3);
    await sup.stop();
    const delays = events.flatMap((e) => (e.type === 'exited' ? [e.restartInMs] : []));
    expect(delays.slice(0, 3)).toEqual([30, 60, 60]);
  });

  it('keeps service logs readable by this user only, also those an earlier version made', async () => {
    await mkdir(join(dir, 'logs'), { recursive: true });
    await writeFile(join(dir, 'logs', 'stderr.log'), 'old\n', { mode: 0o644 });
    const sup = new Supervisor({
      run: { argv: ['node', '-e', 'console.log("TOKEN=secret"); setTimeout(() => {}, 60000)'] },
      cwd: dir,
      env: process.env as Record<string, string>,
      logDir: join(dir, 'logs'),
      pidFile: join(dir, 'pid'),
    });
    sup.start();
    await until('the output', async () =>
      (await readFile(join(dir, 'logs', 'stdout.log'), 'utf8').catch(() => '')).includes('TOKEN'),
    );
    await sup.stop();
    for (const f of ['stdout.log', 'stderr.log']) {
      expect((await stat(join(dir, 'logs', f))).mode & 0o777).toBe(0o600);
    }
  });

  it('stops the whole process group, children included', async () => {
    const childPidFile = join(dir, 'child.pid');
    const sup = new Supervisor({
      run: { shell: `sleep 60 & echo $! > ${childPidFile}; wait` },
      cwd: dir,
      env: process.env as Record<string, string>,
      logDir: join(dir, 'logs'),
      pidFile: join(dir, 'pid'),
    });
    sup.start();
    await until(
      'the child to write its pid',
      async () => (await readFile(childPidFile, 'utf8').catch(() => '')).trim() !== '',
    );
    const grandchild = Number((await readFile(childPidFile, 'utf8')).trim());
    expect(isAlive(grandchild)).toBe(true);
    await sup.stop(2000);
    await until('the grandchild to be gone', () => !isAlive(grandchild));
    expect(sup.running).toBe(false);
  });

  it('reports a command that cannot start and keeps retrying', async () => {
    const events: SupervisorEvent[] = [];
    const sup = new Supervisor({
      run: { argv: [join(dir, 'missing-binary')] },
      cwd: dir,
      env: {},
      logDir: join(dir, 'logs'),
      pidFile: join(dir, 'pid'),
      backoff: { initialMs: 20, maxMs: 20, resetAfterMs: 60_000 },
      onEvent: (e) => events.push(e),
    });
    sup.start();
    await until('two exits', () => events.filter((e) => e.type === 'exited').length >= 2);
    await sup.stop();
    expect(await readFile(join(dir, 'logs', 'stderr.log'), 'utf8')).toMatch(/cannot start/);
  });
});

/** A process started as an earlier agent would have, recorded in `pidFile` with `about`. */
async function leftover(pidFile: string, about: Record<string, number>) {
  const child = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
  child.unref();
  const pid = child.pid!;
  await writePidFile(pidFile, pid, about);
  const rec = await readPidFile(pidFile);
  expect(rec).toMatchObject({ pid, about });
  return rec!;
}

describe('Supervisor.adopt', () => {
  it('watches a process it did not start, restarts it once it dies, and stops it', async () => {
    const rec = await leftover(join(dir, 'pid'), { version: 3 });
    const events: SupervisorEvent[] = [];
    const sup = new Supervisor({
      run: { argv: ['sleep', '60'] },
      cwd: dir,
      env: process.env as Record<string, string>,
      logDir: join(dir, 'logs'),
      pidFile: join(dir, 'pid'),
      about: { version: 3 },
      backoff: { initialMs: 50, maxMs: 50, resetAfterMs: 10_000 },
      onEvent: (e) => events.push(e),
    });
    sup.adopt(rec);
    expect(events).toEqual([{ type: 'started', pid: rec.pid, adopted: true }]);
    expect(sup.pid).toBe(rec.pid);
    expect(sup.running).toBe(true);

    process.kill(-rec.pid, 'SIGKILL');
    const restarted = await until('a new process', () =>
      sup.pid !== rec.pid && sup.running ? sup.pid : undefined,
    );
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'exited', pid: rec.pid, restartInMs: expect.any(Number) }),
    );
    expect(sup.restarts).toBe(1);
    await until('the pid file to name the new process', async () => {
      const now = await readPidFile(join(dir, 'pid'));
      return now?.pid === restarted && now.about.version === 3;
    });
    await sup.stop(1000);
    expect(isAlive(restarted)).toBe(false);
  });

  it('stops an adopted process on request, without restarting it', async () => {
    const rec = await leftover(join(dir, 'pid'), { version: 1 });
    const events: SupervisorEvent[] = [];
    const sup = new Supervisor({
      run: { argv: ['sleep', '60'] },
      cwd: dir,
      env: process.env as Record<string, string>,
      logDir: join(dir, 'logs'),
      pidFile: join(dir, 'pid'),
      onEvent: (e) => events.push(e),
    });
    sup.adopt(rec);
    await sup.stop(1000);
    expect(await isSameProcessAlive(rec.pid, rec.startTime)).toBe(false);
    expect(events.at(-1)).toMatchObject({ type: 'exited', pid: rec.pid, restartInMs: null });
    expect(sup.running).toBe(false);
  });

  it('tells a recorded process from another one with the same pid', async () => {
    const rec = await leftover(join(dir, 'pid'), { version: 1 });
    expect(await isSameProcessAlive(rec.pid, rec.startTime)).toBe(true);
    expect(await isSameProcessAlive(rec.pid, '1')).toBe(false);
    process.kill(-rec.pid, 'SIGKILL');
    await until('it to be gone', async () => !(await isSameProcessAlive(rec.pid, rec.startTime)));
    // Not a pid file this code wrote: nothing to take over.
    await writeFile(join(dir, 'bad.pid'), JSON.stringify({ pid: 1, startTime: '1' }));
    expect(await readPidFile(join(dir, 'bad.pid'))).toBeNull();
    await writeFile(join(dir, 'big.pid'), 'x'.repeat(10_000));
    expect(await readPidFile(join(dir, 'big.pid'))).toBeNull();
  });
});

describe('killStaleProcessGroup', () => {
  it('kills the group a pid file records, and only when its start time matches', async () => {
    const sup = new Supervisor({
      run: { argv: ['sleep', '60'] },
      cwd: dir,
      env: process.env as Record<string, string>,
      logDir: join(dir, 'logs'),
      pidFile: join(dir, 'pid'),
    });
    sup.start();
    await until('the process to run', () => sup.pid !== undefined && sup.running);
    const pid = sup.pid!;
    await until(
      'the pid file',
      async () => (await readFile(join(dir, 'pid'), 'utf8').catch(() => '')) !== '',
    );

    // A pid file whose start time does not match (a reused pid) is left alone.
    const forged = join(dir, 'forged.pid');
    await writeFile(forged, JSON.stringify({ pid, startTime: '1' }));
    expect(await killStaleProcessGroup(forged)).toBe(false);
    expect(isAlive(pid)).toBe(true);

    expect(await killStaleProcessGroup(join(dir, 'pid'), 1000)).toBe(true);
    await until('the process to be stopped', () => !sup.running);
    await sup.stop();
  });

  it('does nothing without a pid file', async () => {
    expect(await killStaleProcessGroup(join(dir, 'none.pid'))).toBe(false);
    await writePidFile(join(dir, 'self.pid'), process.pid);
    expect(JSON.parse(await readFile(join(dir, 'self.pid'), 'utf8'))).toMatchObject({
      pid: process.pid,
    });
  });
});

describe('health probes', () => {
  let server: Server;
  let port: number;
  let status = 200;
  beforeEach(async () => {
    status = 200;
    server = createServer((_req, res) => res.writeHead(status).end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterEach(async () => {
    await new Promise((r) => server.close(r));
  });
  const target = () => ({ host: '127.0.0.1', port, cwd: dir, env: {} });

  it('passes on 2xx and fails on 5xx for HTTP', async () => {
    expect(await probeOnce({ kind: 'http', path: '/healthz' }, target(), 1000)).toEqual({
      ok: true,
      detail: 'HTTP 200',
    });
    status = 503;
    expect(await probeOnce({ kind: 'http', path: '/healthz' }, target(), 1000)).toEqual({
      ok: false,
      detail: 'HTTP 503',
    });
  });

  it('checks TCP reachability', async () => {
    expect((await probeOnce({ kind: 'tcp' }, target(), 1000)).ok).toBe(true);
    const closed = await freePort();
    const r = await probeOnce({ kind: 'tcp' }, { ...target(), port: closed }, 1000);
    expect(r).toMatchObject({ ok: false });
  });

  it('runs a command probe and reports its last output line on failure', async () => {
    const ok = await probeOnce({ kind: 'command', run: { argv: ['true'] } }, target(), 1000);
    expect(ok.ok).toBe(true);
    const bad = await probeOnce(
      { kind: 'command', run: { shell: 'echo "db not ready" >&2; exit 2' } },
      target(),
      1000,
    );
    expect(bad).toEqual({ ok: false, detail: 'exit 2: db not ready' });
  });

  it('waits for consecutive successes, or gives up at the deadline with the last failure', async () => {
    const spec: HealthSpec = {
      probe: { kind: 'http', path: '/' },
      timeoutMs: 500,
      intervalMs: 20,
      healthyAfter: 3,
      deadlineMs: 2000,
    };
    const good = await waitHealthy(spec, target());
    expect(good).toMatchObject({ healthy: true, probes: 3 });
    status = 500;
    const bad = await waitHealthy({ ...spec, deadlineMs: 200 }, target());
    expect(bad.healthy).toBe(false);
    expect(bad.detail).toMatch(/^HTTP 500 \(not healthy after 0\.\ds\)$/);
  });
});
