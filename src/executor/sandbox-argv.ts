/**
 * The job sandbox as data: what a job asks for (SandboxSpec), what is wrong with a request, and
 * the argv that runs it under bubblewrap. Pure: the host's layout comes in as a parameter.
 */
import { posix } from 'node:path';
import type { Problem } from '../core/index.js';

/** A host file or directory shown read-only inside the sandbox. */
export interface SandboxBind {
  /** Absolute host path; it must exist. */
  source: string;
  /** Absolute path inside, outside the sandbox's own mounts (e.g. `/script/run.py`). */
  target: string;
}

/** What a job may use. Under prlimit, memory and CPU time count per process, not per job. */
export interface SandboxLimits {
  /** Wall-clock time before the whole job is stopped. */
  timeoutMs: number;
  /** Address space per process (RLIMIT_AS); none when left out. */
  memoryBytes?: number;
  /** CPUs' worth of time: CPU seconds per process are capped at cpus × the timeout (default 1). */
  cpus?: number;
  /** Processes and threads of the job's uid (RLIMIT_NPROC; default DEFAULT_SANDBOX_PROCESSES). */
  processes?: number;
  /** Output lines longer than this many bytes are split (default DEFAULT_OUTPUT_LINE_BYTES). */
  outputLineBytes?: number;
}

/** One job to run in a sandbox. */
export interface SandboxSpec {
  /**
   * Host directory of the image tree, mounted read-only at /job, the job's working directory.
   * Its files must be readable by the job's uid (bwrap mounts it as root; the job reads as uid).
   */
  tree: string;
  /**
   * Host directory, fresh per job (missing, or empty), mounted writable at /scratch; HOME is
   * /scratch/home and /tmp is /scratch/tmp. startSandbox makes them and chowns all to uid:gid.
   */
  scratch: string;
  /** Extra read-only files or directories, e.g. the uploaded script. */
  binds?: SandboxBind[];
  /** The command run inside, without a shell; argv[0] is looked up on the job's PATH. */
  argv: string[];
  /**
   * The only environment inside, on top of the defaults of sandboxEnv (PATH, HOME, TMPDIR, LANG).
   * Values travel in bwrap's argv, which other local users can read in the process list: give
   * secrets as files (binds) instead.
   */
  env: Record<string, string>;
  /** false: the job gets its own network namespace with only loopback. */
  network: boolean;
  /**
   * Unprivileged uid the job runs as on the host, one per concurrent job: the process limit
   * counts per uid, and a job's leftovers are found by it.
   */
  uid: number;
  /** Unprivileged gid the job runs as, without supplementary groups. */
  gid: number;
  limits: SandboxLimits;
}

/** A top-level host path shown in the sandbox as the host has it: a symlink, or a read-only bind. */
export interface SystemPath {
  path: string;
  /** The symlink's target, when the host path is a symlink (`/bin -> usr/bin`). */
  link?: string;
}

/** Programs the sandbox needs on the host, by absolute path. */
export const SANDBOX_TOOLS = {
  bwrap: '/usr/bin/bwrap',
  setpriv: '/usr/bin/setpriv',
  prlimit: '/usr/bin/prlimit',
  nice: '/usr/bin/nice',
  ionice: '/usr/bin/ionice',
  env: '/usr/bin/env',
} as const;

/** Top-level host paths a program needs to run; those that exist are shown (see SystemPath). */
export const SYSTEM_PATHS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];
/** The hostname a job sees (its own UTS namespace). */
export const SANDBOX_HOSTNAME = 'slipway-job';
/** Where the image tree is mounted, read-only: the job's working directory. */
export const JOB_DIR = '/job';
/** Where the job's scratch directory is mounted, writable. */
export const SCRATCH_DIR = '/scratch';
/** Processes and threads a job may have when its spec does not say: enough, but not a bomb. */
export const DEFAULT_SANDBOX_PROCESSES = 1024;
/** Output lines longer than this are split when the spec does not say. */
export const DEFAULT_OUTPUT_LINE_BYTES = 16 * 1024;
/** The job's nice value: jobs never starve the services running on the same host. */
export const JOB_NICENESS = 10;
/** The descriptor bwrap writes its info to (JSON with the host pid of the sandbox's init). */
export const INFO_FD = 3;

/** Where the sandbox mounts things of its own: binds may not land on or under them. */
const RESERVED_TARGETS = [...SYSTEM_PATHS, '/etc', '/proc', '/dev', '/tmp', JOB_DIR, SCRATCH_DIR];
const PATH_DEFAULT = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_ID = 2 ** 32 - 2;
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Everything wrong with a spec that can be seen without looking at the host; empty when none. */
export function sandboxSpecProblems(spec: SandboxSpec): Problem[] {
  const problems: Problem[] = [];
  const add = (path: string, message: string) => problems.push({ path, message });
  for (const key of ['tree', 'scratch'] as const) {
    if (!isCleanAbsolute(spec[key]) || spec[key] === '/') {
      add(key, 'must be an absolute, normalized host directory other than /');
    }
  }
  if (spec.tree === spec.scratch) add('scratch', 'must not be the image tree');
  (spec.binds ?? []).forEach((b, i) => {
    if (!isCleanAbsolute(b.source)) add(`binds[${i}].source`, 'must be an absolute host path');
    if (!isCleanAbsolute(b.target) || b.target === '/') {
      add(`binds[${i}].target`, 'must be an absolute, normalized path other than /');
    } else if (RESERVED_TARGETS.some((r) => b.target === r || b.target.startsWith(`${r}/`))) {
      add(`binds[${i}].target`, `must not be on or under ${RESERVED_TARGETS.join(', ')}`);
    }
  });
  if (spec.argv.length === 0 || spec.argv[0] === '') add('argv', 'must name a command');
  // `env NAME=VALUE… argv` would take a command containing '=' for one more variable.
  if (spec.argv[0]?.includes('=')) add('argv[0]', "must not contain '='");
  spec.argv.forEach((a, i) => {
    if (a.includes('\0')) add(`argv[${i}]`, 'must not contain a NUL character');
  });
  for (const [name, value] of Object.entries(spec.env)) {
    if (!ENV_NAME.test(name)) add(`env.${name}`, 'is not a valid variable name');
    if (value.includes('\0')) add(`env.${name}`, 'must not contain a NUL character');
  }
  for (const key of ['uid', 'gid'] as const) {
    if (!Number.isInteger(spec[key]) || spec[key] < 1 || spec[key] > MAX_ID) {
      add(key, 'must be an unprivileged id (an integer, not 0)');
    }
  }
  const l = spec.limits;
  // Node fires a longer timer at once.
  if (!(l.timeoutMs > 0 && l.timeoutMs <= MAX_TIMER_MS)) {
    add('limits.timeoutMs', `must be > 0 and at most ${MAX_TIMER_MS}`);
  }
  if (l.memoryBytes !== undefined && !isPositiveInteger(l.memoryBytes)) {
    add('limits.memoryBytes', 'must be a positive integer');
  }
  if (l.cpus !== undefined && !(l.cpus > 0 && Number.isFinite(l.cpus))) {
    add('limits.cpus', 'must be > 0');
  }
  if (l.processes !== undefined && !isPositiveInteger(l.processes)) {
    add('limits.processes', 'must be a positive integer');
  }
  if (
    l.outputLineBytes !== undefined &&
    !(isPositiveInteger(l.outputLineBytes) && l.outputLineBytes >= 4)
  ) {
    add('limits.outputLineBytes', 'must be an integer of at least 4 (one UTF-8 character)');
  }
  return problems;
}

/** The job's whole environment: the defaults, overridden by what the spec gives. */
export function sandboxEnv(spec: Pick<SandboxSpec, 'env'>): Record<string, string> {
  return {
    PATH: PATH_DEFAULT,
    HOME: `${SCRATCH_DIR}/home`,
    TMPDIR: '/tmp',
    LANG: 'C.UTF-8',
    ...spec.env,
  };
}

/** CPU seconds one process may use: the backstop for a timeout that somehow did not fire. */
export function cpuSeconds(limits: SandboxLimits): number {
  return Math.max(1, Math.ceil(((limits.cpus ?? 1) * limits.timeoutMs) / 1000));
}

/**
 * The argv (bwrap first) that runs a valid spec. bwrap runs as root without a user namespace:
 * with one, `--uid N` would still be uid 0 on the host. So bwrap only builds the namespaces and
 * mounts, and setpriv then really becomes uid:gid on the host, without groups or capabilities,
 * before anything of the job's runs. The job's environment is applied last (`env -i`), after the
 * drop, so variables like LD_PRELOAD never reach a program running as root.
 */
export function buildSandboxArgv(spec: SandboxSpec, systemPaths: readonly SystemPath[]): string[] {
  const t = SANDBOX_TOOLS;
  const l = spec.limits;
  const cpu = cpuSeconds(l);
  return [
    t.bwrap,
    // The sandbox dies with the agent; the PID namespace takes every descendant with it.
    '--die-with-parent',
    // Its own session: the job cannot push input into the agent's terminal (TIOCSTI).
    '--new-session',
    ...['--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try'],
    ...(spec.network ? [] : ['--unshare-net']),
    ...['--hostname', SANDBOX_HOSTNAME],
    ...systemPaths.flatMap((p) =>
      p.link !== undefined ? ['--symlink', p.link, p.path] : ['--ro-bind', p.path, p.path],
    ),
    // Read-only /etc: passwd, certificates, resolv.conf.
    ...['--ro-bind', '/etc', '/etc', '--proc', '/proc', '--dev', '/dev'],
    ...['--ro-bind', spec.tree, JOB_DIR, '--bind', spec.scratch, SCRATCH_DIR],
    // /tmp on the scratch disk rather than a tmpfs, whose memory no limit would count.
    ...['--bind', posix.join(spec.scratch, 'tmp'), '/tmp'],
    // A bind's missing parents would be made 0700 (root's): the job could not reach it.
    ...bindParents(spec.binds ?? []).flatMap((d) => ['--perms', '0755', '--dir', d]),
    ...(spec.binds ?? []).flatMap((b) => ['--ro-bind', b.source, b.target]),
    ...['--chdir', JOB_DIR, '--clearenv', '--setenv', 'PATH', PATH_DEFAULT],
    ...['--info-fd', String(INFO_FD)],
    '--',
    t.setpriv,
    ...['--reuid', String(spec.uid), '--regid', String(spec.gid), '--clear-groups'],
    ...['--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '--'],
    t.prlimit,
    `--nproc=${l.processes ?? DEFAULT_SANDBOX_PROCESSES}`,
    ...(l.memoryBytes !== undefined ? [`--as=${l.memoryBytes}`] : []),
    // SIGXCPU at the soft limit, SIGKILL a second later.
    `--cpu=${cpu}:${cpu + 1}`,
    '--',
    ...[t.nice, '-n', String(JOB_NICENESS), '--'],
    // Best-effort at the lowest priority rather than idle, which a busy disk could starve forever.
    ...[t.ionice, '-c', '2', '-n', '7', '--'],
    ...[t.env, '-i', '--'],
    ...Object.entries(sandboxEnv(spec)).map(([k, v]) => `${k}=${v}`),
    ...spec.argv,
  ];
}

/** `/a/b`, not `a/b`, `/a/../b`, `/a/` nor a path with a NUL in it. */
function isCleanAbsolute(p: string): boolean {
  if (p === '/') return true;
  return posix.isAbsolute(p) && posix.normalize(p) === p && !p.endsWith('/') && !p.includes('\0');
}

function isPositiveInteger(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0;
}

/** The directories above the binds' targets (not `/`), outermost first, each once. */
function bindParents(binds: readonly SandboxBind[]): string[] {
  const dirs = new Set<string>();
  for (const b of binds) {
    const parts = posix.dirname(b.target).split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) dirs.add('/' + parts.slice(0, i).join('/'));
  }
  return [...dirs].sort((a, b) => a.split('/').length - b.split('/').length);
}
