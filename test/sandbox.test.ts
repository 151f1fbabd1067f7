/**
 * The job sandbox against the real bubblewrap: every isolation promise is checked by running a
 * job that would break it. Needs root and /usr/bin/bwrap (CI installs bubblewrap, runs as root).
 */
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isSlipwayError } from '../src/core/index.js';
import {
  probeSandbox,
  SANDBOX_GRACE_MS,
  startSandbox,
  type SandboxResult,
  type SandboxRun,
  type SandboxSpec,
} from '../src/executor/index.js';
import { until } from './helpers/until.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const EXECUTOR = join(REPO_ROOT, 'src/executor/index.ts');

beforeAll(() => {
  // Never skipped: a host that cannot run these would also run jobs without a sandbox.
  if (process.getuid?.() !== 0) {
    throw new Error('test/sandbox.test.ts must run as root (bwrap builds namespaces as root)');
  }
  if (!existsSync('/usr/bin/bwrap')) {
    throw new Error('bubblewrap is not installed: apt-get install bubblewrap');
  }
});

/** One uid per job, as the agent does per slot: limits and leftovers are counted per uid. */
let nextUid = 61700 + randomInt(0, 1000) * 30;
const cleanups: (() => void | Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A temporary directory removed after the test. */
async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

interface Job {
  spec: SandboxSpec;
  run: SandboxRun;
  stdout: string[];
  stderr: string[];
}

/** Starts `argv` in a sandbox with an image tree holding hello.txt; kills its uid's leftovers after. */
async function startJob(argv: string[], over: Partial<SandboxSpec> = {}): Promise<Job> {
  const dir = await tempDir('slipway-sandbox-');
  const tree = join(dir, 'tree');
  await mkdir(tree, { mode: 0o755 });
  await chmod(tree, 0o755);
  await writeFile(join(tree, 'hello.txt'), 'hello from the image\n', { mode: 0o644 });
  await mkdir(join(dir, 'scratch'));
  const uid = nextUid++;
  expect(processesOf(uid), `uid ${uid} is free`).toEqual([]);
  const spec: SandboxSpec = {
    tree,
    scratch: join(dir, 'scratch'),
    argv,
    env: {},
    network: false,
    uid,
    gid: uid,
    limits: { timeoutMs: 20_000 },
    ...over,
  };
  const stdout: string[] = [];
  const stderr: string[] = [];
  const run = startSandbox(spec, (stream, line) =>
    (stream === 'stdout' ? stdout : stderr).push(line),
  );
  cleanups.push(async () => {
    run.cancel();
    await run.done.catch(() => undefined);
    for (const pid of processesOf(uid)) process.kill(pid, 'SIGKILL');
  });
  return { spec, run, stdout, stderr };
}

/** Runs `argv` to its end. */
async function runJob(
  argv: string[],
  over: Partial<SandboxSpec> = {},
): Promise<Job & { result: SandboxResult }> {
  const job = await startJob(argv, over);
  return { ...job, result: await job.run.done };
}

/** Host pids of the processes whose real uid is `uid`. */
function processesOf(uid: number): number[] {
  return hostPids().filter((pid) => {
    try {
      return (
        readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)?.[1] === String(uid)
      );
    } catch {
      return false;
    }
  });
}

/**
 * Host pids of the `sleep <duration>` processes (what `pgrep -x sleep -f <duration>` would find;
 * bwrap and the wrappers before the job carry the duration in their arguments too).
 */
function sleepsOf(duration: string): number[] {
  return hostPids().filter((pid) => {
    try {
      const [program, arg] = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return program === 'sleep' && arg === duration;
    } catch {
      return false;
    }
  });
}

function hostPids(): number[] {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number);
}

/** A `sleep` duration no other process on the host has: it tells the job's sleeps apart. */
function marker(): string {
  return `${randomInt(300_000, 900_000)}.${randomInt(100_000, 999_999)}`;
}

/** What `fn` throws. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** Resolves once the job has printed `line` on stdout. */
function printed(job: Job, line: string): Promise<true> {
  return until(`the job to print ${line}`, () => job.stdout.includes(line), { timeoutMs: 15_000 });
}

describe('probeSandbox', () => {
  it('finds this host able to run sandboxed jobs, with limits by prlimit', async () => {
    expect(await probeSandbox()).toEqual({
      ok: true,
      bwrap: '/usr/bin/bwrap',
      limitsBy: 'prlimit',
    });
  });

  it('says why not when the agent does not run as root', async () => {
    const code = `const { probeSandbox } = await import(${JSON.stringify(EXECUTOR)});
      console.log(JSON.stringify(await probeSandbox()));`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: REPO_ROOT,
      uid: 65534,
      gid: 65534,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    // A node this user may not run (one under /root) fails here, not by the test's timeout.
    await new Promise((resolve, reject) => {
      child.once('close', resolve);
      child.once('error', reject);
    });
    expect(JSON.parse(out)).toEqual({
      ok: false,
      reason: expect.stringContaining('does not run as root'),
    });
  });
});

describe('startSandbox refuses a bad spec', () => {
  it.each<[string, Partial<SandboxSpec>]>([
    ['uid 0', { uid: 0 }],
    ['gid 0', { gid: 0 }],
    ['an empty argv', { argv: [] }],
    ['a relative tree', { tree: 'tree' }],
    ['a missing tree', { tree: '/nonexistent/slipway/tree' }],
    ['a bind onto /etc', { binds: [{ source: '/etc/hostname', target: '/etc/hosts' }] }],
  ])('%s', async (_what, over) => {
    const dir = await tempDir('slipway-sandbox-bad-');
    const spec: SandboxSpec = {
      tree: dir,
      scratch: join(dir, 'scratch'),
      argv: ['true'],
      env: {},
      network: false,
      uid: 61699,
      gid: 61699,
      limits: { timeoutMs: 1000 },
      ...over,
    };
    await mkdir(spec.scratch);
    expect(thrown(() => startSandbox(spec, () => {}))).toMatchObject({ code: 'INVALID' });
  });

  it('a scratch directory that is not empty', async () => {
    const dir = await tempDir('slipway-sandbox-bad-');
    await mkdir(join(dir, 'scratch'));
    await writeFile(join(dir, 'scratch', 'left-over'), '');
    const e = thrown(() =>
      startSandbox(
        {
          ...{ tree: dir, scratch: join(dir, 'scratch'), argv: ['true'], env: {}, network: false },
          ...{ uid: 61699, gid: 61699, limits: { timeoutMs: 1000 } },
        },
        () => {},
      ),
    );
    expect(isSlipwayError(e, 'INVALID') && e.message).toMatch(/scratch.*is not empty/);
  });
});

describe('the job', () => {
  it('really runs as the unprivileged uid on the host, without capabilities or groups', async () => {
    const sleep = marker();
    const job = await startJob([
      'sh',
      '-c',
      'id -u; id -g; id -G; grep -E "^(Cap...|NoNewPrivs):" /proc/self/status; nice; ionice; sleep "$1"',
      'sh',
      sleep,
    ]);
    const pid = await until('the job to sleep', () => sleepsOf(sleep)[0]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const uid = job.spec.uid;
    expect(status).toMatch(new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, 'm'));
    expect(status).toMatch(new RegExp(`^Gid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, 'm'));
    expect(status).toMatch(/^Groups:\s*$/m);
    expect(status).toMatch(/^CapEff:\s+0+$/m);
    job.run.cancel();
    await job.run.done;
    const zero = '0000000000000000';
    expect(job.stdout).toEqual([
      ...[String(uid), String(uid), String(uid)],
      ...['Inh', 'Prm', 'Eff', 'Bnd', 'Amb'].map((c) => `Cap${c}:\t${zero}`),
      'NoNewPrivs:\t1',
      // A lower CPU and I/O priority, so that jobs never starve the host's services.
      '10',
      'best-effort: prio 7',
    ]);
  });

  it('reads its tree at /job, writes only in its scratch, HOME and TMPDIR', async () => {
    const script = `cat hello.txt
      for p in /job/new /new /usr/new /etc/new /bin/new /dev/new /proc/new "$HOME/new" "$TMPDIR/new" /scratch/new; do
        if touch "$p" 2>/dev/null; then echo "wrote $p"; else echo "refused $p"; fi
      done`;
    const { result, stdout, spec } = await runJob(['sh', '-c', script]);
    expect(result.exitCode).toBe(0);
    expect(stdout).toEqual([
      'hello from the image',
      ...['/job', '', '/usr', '/etc', '/bin', '/dev', '/proc'].map((d) => `refused ${d}/new`),
      ...['/scratch/home/new', '/tmp/new', '/scratch/new'].map((p) => `wrote ${p}`),
    ]);
    expect(await readdir(spec.tree)).toEqual(['hello.txt']);
    expect((await stat(join(spec.scratch, 'tmp', 'new'))).uid).toBe(spec.uid);
    expect((await stat(join(spec.scratch, 'home', 'new'))).uid).toBe(spec.uid);
  });

  it('gets a scratch directory made for it when the given one does not exist yet', async () => {
    const scratch = join(await tempDir('slipway-sandbox-'), 'jobs', 'scratch');
    const { result, spec } = await runJob(['touch', '/scratch/made'], { scratch });
    expect(result.exitCode).toBe(0);
    expect((await stat(join(scratch, 'made'))).uid).toBe(spec.uid);
  });

  it('sees only the system directories and its own mounts, not the agent’s files', async () => {
    const agentData = await tempDir('slipway-agent-data-');
    const secret = join(agentData, 'token');
    await writeFile(secret, 'TOPSECRET', { mode: 0o600 });
    expect(readFileSync(secret, 'utf8')).toBe('TOPSECRET');
    const hostTmp = await tempDir('slipway-host-tmp-');
    const { result, stdout, stderr } = await runJob(
      [
        'sh',
        '-c',
        `ls -A /; echo --; ls -A /tmp | wc -l; test -r /etc/passwd && echo "etc readable"
         for p in "$1" "$2" /root /home /var /srv /opt; do test -e "$p" || echo "no $p"; done
         cat /secret/token || echo "cat failed"`,
        'sh',
        secret,
        hostTmp,
      ],
      { binds: [{ source: secret, target: '/secret/token' }] },
    );
    expect(result.exitCode).toBe(0);
    const systemDirs = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'].filter(
      (p) => existsSync(p),
    );
    const expected = [...systemDirs.map((p) => p.slice(1)), 'etc', 'proc', 'dev', 'job'];
    const end = stdout.indexOf('--');
    expect(stdout.slice(0, end).sort()).toEqual([...expected, 'scratch', 'tmp', 'secret'].sort());
    expect(stdout.slice(end + 1)).toEqual([
      '0', // the host's /tmp is not the job's
      'etc readable',
      ...[secret, hostTmp, '/root', '/home', '/var', '/srv', '/opt'].map((p) => `no ${p}`),
      'cat failed',
    ]);
    // Bound in, a root-only file stays unreadable: the job is not root on the host.
    expect(stderr).toEqual(['cat: /secret/token: Permission denied']);
  });

  it('has its own PID, IPC, UTS, mount and network namespaces, and hostname', async () => {
    const kinds = ['pid', 'ipc', 'uts', 'mnt', 'net'];
    const { result, stdout } = await runJob([
      'sh',
      '-c',
      `echo "$$"; hostname; ls /proc | grep -c '^[0-9]'; for ns in ${kinds.join(' ')}; do readlink /proc/self/ns/$ns; done`,
    ]);
    expect(result.exitCode).toBe(0);
    const [pid, hostname, pidCount, ...namespaces] = stdout;
    // bwrap's init is 1; the shell 2: nothing of the host's processes is there.
    expect(Number(pid)).toBeLessThanOrEqual(3);
    expect(Number(pidCount)).toBeLessThanOrEqual(5);
    expect(hostname).toBe('slipway-job');
    expect(namespaces).toHaveLength(kinds.length);
    kinds.forEach((kind, i) => {
      expect(namespaces[i]).toMatch(new RegExp(`^${kind}:\\[\\d+\\]$`));
      expect(namespaces[i]).not.toBe(readlinkSync(`/proc/self/ns/${kind}`));
    });
  });

  it('reaches the host network only when allowed', async () => {
    let connections = 0;
    const server = createServer((socket) => {
      connections++;
      socket.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
    const port = String((server.address() as { port: number }).port);
    const connect = [
      'bash',
      '-c',
      'if exec 3<>"/dev/tcp/127.0.0.1/$1"; then echo connected; else echo refused; fi',
      'bash',
      port,
    ];
    const closed = await runJob(connect);
    expect(closed.stdout).toEqual(['refused']);
    expect(connections).toBe(0);
    const open = await runJob(connect, { network: true });
    expect(open.stdout).toEqual(['connected']);
    await until('the server to see the job', () => connections === 1);
  });

  it('gets only its own environment and the defaults, nothing of the agent’s', async () => {
    process.env.SLIPWAY_TOKEN = 'agent-secret';
    cleanups.push(() => {
      delete process.env.SLIPWAY_TOKEN;
    });
    const { result, stdout } = await runJob(['env'], {
      env: { GREETING: 'hello world', LANG: 'C' },
    });
    expect(result.exitCode).toBe(0);
    expect(stdout.sort()).toEqual(
      [
        'GREETING=hello world',
        'HOME=/scratch/home',
        'LANG=C',
        'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        'TMPDIR=/tmp',
      ].sort(),
    );
  });
  it('applies its environment to its own program only, never to what runs as root', async () => {
    // The loader complains once per program started with this variable: here, only `sh`.
    const { result, stdout, stderr } = await runJob(['sh', '-c', 'echo ran'], {
      env: { LD_PRELOAD: '/nonexistent/preload.so' },
    });
    expect(result.exitCode).toBe(0);
    expect(stdout).toEqual(['ran']);
    expect(stderr).toEqual([
      expect.stringMatching(/^ERROR: ld\.so: object '\/nonexistent\/preload\.so'/),
    ]);
  });
});

describe('output', () => {
  it('arrives line by line in order per stream, long lines split, the last partial line kept', async () => {
    const script = `seq 1 3000
      printf "e1\\ne2\\n" >&2
      printf "%070d\\n" 0
      printf "a"; printf "\\303\\251%.0s" $(seq 1 20); echo
      printf "crlf\\r\\n"
      printf "partial"`;
    const { result, stdout, stderr } = await runJob(['sh', '-c', script], {
      limits: { timeoutMs: 20_000, outputLineBytes: 32 },
    });
    expect(result.exitCode).toBe(0);
    expect(stdout.slice(0, 3000)).toEqual(Array.from({ length: 3000 }, (_, i) => String(i + 1)));
    expect(stdout.slice(3000)).toEqual([
      '0'.repeat(32),
      '0'.repeat(32),
      '0'.repeat(6),
      // Cut before the character that would straddle 32 bytes, never inside it.
      `a${'é'.repeat(15)}`,
      'é'.repeat(5),
      'crlf',
      'partial',
    ]);
    expect(stderr).toEqual(['e1', 'e2']);
  });
});

describe('limits', () => {
  it('caps the processes of the job’s uid', async () => {
    const script = 'i=0; while [ $i -lt 100 ]; do sleep 300 & i=$((i+1)); echo $i; done';
    const { result, stdout, stderr, spec } = await runJob(['sh', '-c', script], {
      limits: { timeoutMs: 20_000, processes: 16 },
    });
    // The shell is one of the 16: at most 15 sleeps, then fork fails and the shell gives up.
    expect(result.exitCode).not.toBe(0);
    expect(Number(stdout.at(-1))).toBeLessThanOrEqual(15);
    expect(stderr).toEqual([expect.stringMatching(/^sh: \d+: Cannot fork$/)]);
    expect(processesOf(spec.uid)).toEqual([]);
  });

  it('contains a fork bomb, and leaves no process behind', async () => {
    let peak = 0;
    const job = await startJob(['sh', '-c', 'f() { f | f & }; f; sleep 300'], {
      limits: { timeoutMs: 3000, processes: 32 },
    });
    const sampler = setInterval(
      () => (peak = Math.max(peak, processesOf(job.spec.uid).length)),
      10,
    );
    const result = await job.run.done;
    clearInterval(sampler);
    expect(result.timedOut || result.exitCode !== 0).toBe(true);
    expect(job.stderr).toContainEqual(expect.stringMatching(/^sh: \d+: Cannot fork$/));
    expect(peak).toBeLessThanOrEqual(32);
    expect(processesOf(job.spec.uid)).toEqual([]);
  });

  it('refuses memory beyond the limit', async () => {
    const hog = ['sh', '-c', 'head -c 200M /dev/zero | tail -n 1 > /dev/null'];
    const limited = await runJob(hog, { limits: { timeoutMs: 20_000, memoryBytes: 64 << 20 } });
    expect(limited.result.exitCode).not.toBe(0);
    expect(limited.stderr).toEqual(['tail: memory exhausted']);
    const roomy = await runJob(hog, { limits: { timeoutMs: 20_000, memoryBytes: 1 << 30 } });
    expect(roomy.result.exitCode).toBe(0);
  });

  it('stops a process at its CPU time (cpus × timeout) even before the timeout', async () => {
    const { result } = await runJob(['sh', '-c', 'while :; do :; done'], {
      limits: { timeoutMs: 10_000, cpus: 0.1 },
    });
    // SIGXCPU (24) at one CPU second, as a shell reports a signal.
    expect(result).toMatchObject({ exitCode: 128 + 24, timedOut: false });
  });
});

describe('stopping', () => {
  it('kills the whole tree at the timeout, grandchildren in their own session too', async () => {
    const sleep = marker();
    const job = await startJob(['sh', '-c', 'setsid sleep "$1" & sleep 300', 'sh', sleep], {
      limits: { timeoutMs: 1500 },
    });
    await until('the grandchild to start', () => sleepsOf(sleep).length > 0);
    const result = await job.run.done;
    expect(result).toMatchObject({ timedOut: true, cancelled: false, exitCode: 128 + 15 });
    expect(result.durationMs).toBeGreaterThanOrEqual(1500);
    expect(sleepsOf(sleep)).toEqual([]);
    const left = processesOf(job.spec.uid);
    for (const p of left) {
      try {
        console.log(
          'LEFT',
          readFileSync(`/proc/${p}/status`, 'utf8').split('\n').slice(0, 14).join(' | '),
          JSON.stringify(readFileSync(`/proc/${p}/cmdline`, 'utf8')),
        );
      } catch (e) {
        console.log('gone', e);
      }
    }
    expect(processesOf(job.spec.uid)).toEqual([]);
  });

  it('cancel() sends SIGTERM first, so the job can clean up', async () => {
    const job = await startJob([
      'sh',
      '-c',
      'trap "echo cleaning up; exit 7" TERM; echo ready; while :; do sleep 0.1; done',
    ]);
    await printed(job, 'ready');
    job.run.cancel();
    const result = await job.run.done;
    expect(result).toMatchObject({ cancelled: true, timedOut: false, exitCode: 7 });
    expect(job.stdout).toEqual(['ready', 'cleaning up']);
  });

  it('cancel() kills a job that ignores SIGTERM after the grace period', async () => {
    const sleep = marker();
    const job = await startJob([
      'sh',
      '-c',
      'trap "" TERM; setsid sleep "$1" & echo ready; while :; do sleep 0.1; done',
      'sh',
      sleep,
    ]);
    await printed(job, 'ready');
    const cancelledAt = Date.now();
    job.run.cancel();
    const result = await job.run.done;
    expect(result).toMatchObject({ cancelled: true, exitCode: null, signal: 'SIGKILL' });
    expect(Date.now() - cancelledAt).toBeGreaterThanOrEqual(SANDBOX_GRACE_MS - 100);
    expect(sleepsOf(sleep)).toEqual([]);
    expect(processesOf(job.spec.uid)).toEqual([]);
  });

  it('takes the whole job down when the agent process dies', async () => {
    const dir = await tempDir('slipway-sandbox-agent-');
    await mkdir(join(dir, 'tree'), { mode: 0o755 });
    await mkdir(join(dir, 'scratch'));
    const sleep = marker();
    const uid = nextUid++;
    const spec: SandboxSpec = {
      ...{ tree: join(dir, 'tree'), scratch: join(dir, 'scratch'), env: {}, network: false },
      argv: ['sh', '-c', 'setsid sleep "$1" & sleep "$1"', 'sh', sleep],
      ...{ uid, gid: uid, limits: { timeoutMs: 60_000 } },
    };
    const code = `const { startSandbox } = await import(${JSON.stringify(EXECUTOR)});
      startSandbox(JSON.parse(process.argv[1]), () => {});`;
    const agent = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', code, JSON.stringify(spec)],
      { cwd: REPO_ROOT, stdio: 'inherit' },
    );
    cleanups.push(() => {
      agent.kill('SIGKILL');
      for (const pid of processesOf(uid)) process.kill(pid, 'SIGKILL');
    });
    await until('the job to start', () => sleepsOf(sleep).length === 2);
    agent.kill('SIGKILL');
    await until('the job to die with the agent', () => processesOf(uid).length === 0, {
      timeoutMs: 10_000,
    });
    expect(sleepsOf(sleep)).toEqual([]);
  });
});
