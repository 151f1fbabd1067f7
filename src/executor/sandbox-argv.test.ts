import { describe, expect, it } from 'vitest';
import {
  buildSandboxArgv,
  cpuSeconds,
  DEFAULT_SANDBOX_PROCESSES,
  sandboxEnv,
  sandboxSpecProblems,
  type SandboxSpec,
  type SystemPath,
} from './sandbox-argv.js';

function spec(over: Partial<SandboxSpec> = {}): SandboxSpec {
  return {
    tree: '/data/services/pricing/releases/v3',
    scratch: '/data/jobs/42/scratch',
    argv: ['python3', 'migrate.py', '--dry-run'],
    env: { DATABASE: 'pricing' },
    network: false,
    uid: 61001,
    gid: 61001,
    limits: { timeoutMs: 60_000 },
    ...over,
  };
}

const mergedUsr: SystemPath[] = [
  { path: '/usr' },
  { path: '/bin', link: 'usr/bin' },
  { path: '/lib64', link: 'usr/lib64' },
];

/** The arguments that follow `flag` in argv (the first occurrence). */
function after(argv: string[], flag: string, count = 1): string[] {
  const i = argv.indexOf(flag);
  expect(i, `${flag} in argv`).toBeGreaterThanOrEqual(0);
  return argv.slice(i + 1, i + 1 + count);
}

/** The mount operations of a bwrap argv, each with its operands, in order. */
function mounts(argv: string[]): string[][] {
  const operands: Record<string, number> = {
    '--ro-bind': 2,
    '--bind': 2,
    '--symlink': 2,
    '--proc': 1,
    '--dev': 1,
    '--tmpfs': 1,
  };
  const found: string[][] = [];
  for (let i = 0; i < argv.indexOf('--'); i++) {
    const n = operands[argv[i]!];
    if (n !== undefined) found.push(argv.slice(i, i + 1 + n));
  }
  return found;
}

describe('sandboxSpecProblems', () => {
  it('finds nothing wrong with a sound spec', () => {
    expect(sandboxSpecProblems(spec({ binds: [{ source: '/a/b', target: '/script/x' }] }))).toEqual(
      [],
    );
  });

  it('reports every problem at once, each at its path', () => {
    const problems = sandboxSpecProblems(
      spec({
        tree: 'releases/v3',
        scratch: '/',
        argv: [],
        env: { 'BAD-NAME': 'x', OK: 'a\0b' },
        uid: 0,
        gid: 1.5,
        limits: { timeoutMs: 0, memoryBytes: -1, cpus: 0, processes: 0, outputLineBytes: 2 },
      }),
    );
    expect(problems.map((p) => p.path)).toEqual([
      'tree',
      'scratch',
      'argv',
      'env.BAD-NAME',
      'env.OK',
      'uid',
      'gid',
      'limits.timeoutMs',
      'limits.memoryBytes',
      'limits.cpus',
      'limits.processes',
      'limits.outputLineBytes',
    ]);
  });

  it.each([
    ['a relative path', 'data/tree'],
    ['a path with ..', '/data/../etc'],
    ['a trailing slash', '/data/tree/'],
    ['the root', '/'],
  ])('refuses %s as the tree', (_what, tree) => {
    expect(sandboxSpecProblems(spec({ tree })).map((p) => p.path)).toEqual(['tree']);
  });

  it('refuses a scratch directory that is the tree', () => {
    expect(sandboxSpecProblems(spec({ scratch: spec().tree })).map((p) => p.path)).toEqual([
      'scratch',
    ]);
  });

  it.each([
    '/usr/local/x',
    '/etc/passwd',
    '/job',
    '/job/x',
    '/scratch/home',
    '/tmp',
    '/proc/1',
    '/',
  ])('refuses a bind onto the sandbox’s own mount %s', (target) => {
    const problems = sandboxSpecProblems(spec({ binds: [{ source: '/a', target }] }));
    expect(problems.map((p) => p.path)).toEqual(['binds[0].target']);
  });

  it('refuses a relative bind source', () => {
    const problems = sandboxSpecProblems(spec({ binds: [{ source: 'a', target: '/in/a' }] }));
    expect(problems.map((p) => p.path)).toEqual(['binds[0].source']);
  });

  it('refuses a command containing = (env would take it for a variable)', () => {
    expect(sandboxSpecProblems(spec({ argv: ['A=b', 'x'] })).map((p) => p.path)).toEqual([
      'argv[0]',
    ]);
  });

  it('refuses a timeout longer than a Node timer can wait', () => {
    const problems = sandboxSpecProblems(spec({ limits: { timeoutMs: 2 ** 31 } }));
    expect(problems.map((p) => p.path)).toEqual(['limits.timeoutMs']);
  });
});

describe('sandboxEnv', () => {
  it('adds PATH, HOME, TMPDIR and LANG, which the job may override', () => {
    expect(sandboxEnv({ env: { A: '1', LANG: 'de_DE.UTF-8' } })).toEqual({
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: '/scratch/home',
      TMPDIR: '/tmp',
      LANG: 'de_DE.UTF-8',
      A: '1',
    });
  });
});

describe('cpuSeconds', () => {
  it('is cpus × the timeout, rounded up, at least one second', () => {
    expect(cpuSeconds({ timeoutMs: 60_000 })).toBe(60);
    expect(cpuSeconds({ timeoutMs: 10_500, cpus: 2 })).toBe(21);
    expect(cpuSeconds({ timeoutMs: 100 })).toBe(1);
  });
});

describe('buildSandboxArgv', () => {
  it('runs bwrap as root without a user namespace, then drops to the job uid with setpriv', () => {
    const argv = buildSandboxArgv(spec(), mergedUsr);
    expect(argv[0]).toBe('/usr/bin/bwrap');
    // A user namespace would map the job's uid to root outside.
    expect(argv.some((a) => a.startsWith('--unshare-user') || a === '--uid')).toBe(false);
    const drop = argv.indexOf('/usr/bin/setpriv');
    expect(argv.slice(drop + 1, drop + 11)).toEqual([
      '--reuid',
      '61001',
      '--regid',
      '61001',
      '--clear-groups',
      '--inh-caps=-all',
      '--bounding-set=-all',
      '--no-new-privs',
      '--',
      '/usr/bin/prlimit',
    ]);
    expect(argv.indexOf('--')).toBe(drop - 1);
  });

  it('asks for new PID, IPC, UTS namespaces, a hostname, and to die with the agent', () => {
    const argv = buildSandboxArgv(spec(), mergedUsr);
    for (const flag of ['--die-with-parent', '--new-session', '--unshare-pid', '--unshare-ipc']) {
      expect(argv).toContain(flag);
    }
    expect(argv).toContain('--unshare-uts');
    expect(after(argv, '--hostname')).toEqual(['slipway-job']);
  });

  it('shares the host network only when asked', () => {
    expect(buildSandboxArgv(spec(), mergedUsr)).toContain('--unshare-net');
    expect(buildSandboxArgv(spec({ network: true }), mergedUsr)).not.toContain('--unshare-net');
  });

  it('shows only the system paths, as the host has them, /etc, the tree and the scratch', () => {
    const argv = buildSandboxArgv(spec(), mergedUsr);
    expect(mounts(argv)).toEqual([
      ['--ro-bind', '/usr', '/usr'],
      ['--symlink', 'usr/bin', '/bin'],
      ['--symlink', 'usr/lib64', '/lib64'],
      ['--ro-bind', '/etc', '/etc'],
      ['--proc', '/proc'],
      ['--dev', '/dev'],
      ['--ro-bind', spec().tree, '/job'],
      ['--bind', spec().scratch, '/scratch'],
      // /tmp inside the scratch: nothing of the host's /tmp.
      ['--bind', `${spec().scratch}/tmp`, '/tmp'],
    ]);
  });

  it('adds extra binds read-only, and starts the job in /job', () => {
    const s = spec({ binds: [{ source: '/data/jobs/42/run.py', target: '/script/run.py' }] });
    const argv = buildSandboxArgv(s, mergedUsr);
    expect(mounts(argv).at(-1)).toEqual(['--ro-bind', '/data/jobs/42/run.py', '/script/run.py']);
    expect(after(argv, '--chdir')).toEqual(['/job']);
  });

  it('limits processes, memory and CPU time, and lowers CPU and I/O priority', () => {
    const argv = buildSandboxArgv(
      spec({ limits: { timeoutMs: 30_000, memoryBytes: 512 << 20, cpus: 2, processes: 64 } }),
      mergedUsr,
    );
    expect(after(argv, '/usr/bin/prlimit', 4)).toEqual([
      '--nproc=64',
      `--as=${512 << 20}`,
      '--cpu=60:61',
      '--',
    ]);
    expect(after(argv, '/usr/bin/nice', 3)).toEqual(['-n', '10', '--']);
    expect(after(argv, '/usr/bin/ionice', 5)).toEqual(['-c', '2', '-n', '7', '--']);
  });

  it('limits processes by default, and memory only when asked', () => {
    const argv = buildSandboxArgv(spec(), mergedUsr);
    expect(argv).toContain(`--nproc=${DEFAULT_SANDBOX_PROCESSES}`);
    expect(argv.some((a) => a.startsWith('--as='))).toBe(false);
  });

  it('gives the job exactly its environment, applied only after the privilege drop', () => {
    const argv = buildSandboxArgv(
      spec({ env: { DATABASE: 'pricing', LD_PRELOAD: '/job/x.so' } }),
      mergedUsr,
    );
    const envAt = argv.indexOf('/usr/bin/env');
    expect(envAt).toBeGreaterThan(argv.indexOf('/usr/bin/setpriv'));
    expect(argv.slice(envAt)).toEqual([
      '/usr/bin/env',
      '-i',
      '--',
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'HOME=/scratch/home',
      'TMPDIR=/tmp',
      'LANG=C.UTF-8',
      'DATABASE=pricing',
      'LD_PRELOAD=/job/x.so',
      'python3',
      'migrate.py',
      '--dry-run',
    ]);
    // What runs as root (bwrap, setpriv) gets a clean environment of a fixed PATH.
    const rootPart = argv.slice(0, argv.indexOf('/usr/bin/setpriv'));
    expect(rootPart).toContain('--clearenv');
    expect(after(rootPart, '--setenv', 2)).toEqual([
      'PATH',
      '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    ]);
    expect(rootPart.filter((a) => a === '--setenv')).toHaveLength(1);
  });
});
