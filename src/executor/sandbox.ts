/**
 * Running one job in a bubblewrap sandbox: start it, stream its output line by line, enforce
 * its limits, and stop its whole process tree on timeout or cancel.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  chownSync,
  constants,
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  statSync,
} from 'node:fs';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { SlipwayError, ValidationError, type Problem } from '../core/index.js';
import {
  buildSandboxArgv,
  DEFAULT_OUTPUT_LINE_BYTES,
  INFO_FD,
  SANDBOX_TOOLS,
  SYSTEM_PATHS,
  sandboxSpecProblems,
  type SandboxSpec,
  type SystemPath,
} from './sandbox-argv.js';
import { LineSplitter } from './sandbox-lines.js';

export type { SandboxBind, SandboxLimits, SandboxSpec } from './sandbox-argv.js';

/** Which mechanism enforced a job's limits. */
export type SandboxLimitsBy = 'cgroup-v2' | 'prlimit';

/**
 * Limits are per-process rlimits (prlimit). A delegated cgroup v2 subtree (memory.max,
 * pids.max, cpu.max for the whole job) is the next step, on hosts that have one.
 */
export const SANDBOX_LIMITS_BY: SandboxLimitsBy = 'prlimit';

/** How long a stopped job has between SIGTERM and SIGKILL. */
export const SANDBOX_GRACE_MS = 2000;

/** How a job ended. */
export interface SandboxResult {
  /**
   * The job's exit status as bwrap reports it: 128+N when signal N ended the job, as a shell
   * says it; null when the sandbox itself was killed (signal then says with what).
   */
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  cancelled: boolean;
  limitsBy: SandboxLimitsBy;
  durationMs: number;
}

/** A running job. */
export interface SandboxRun {
  /** The host pid of bwrap, the sandbox's outermost process. */
  readonly pid: number;
  /** Settles once every process of the job is gone and all its output was delivered. */
  readonly done: Promise<SandboxResult>;
  /** Stops the job: SIGTERM to all its processes, SIGKILL after SANDBOX_GRACE_MS. */
  cancel(): void;
}

/** Receives each line of output, in order per stream. */
export type SandboxLineHandler = (stream: 'stdout' | 'stderr', line: string) => void;

/**
 * Starts `spec.argv` in a sandbox (see buildSandboxArgv) and returns at once. Throws
 * ValidationError (INVALID) for a bad spec and UNAVAILABLE when this host cannot sandbox
 * (probeSandbox says why); a job that fails to run shows in `done` and on stderr instead.
 */
export function startSandbox(spec: SandboxSpec, onLine: SandboxLineHandler): SandboxRun {
  checkSpec(spec);
  checkHost();
  prepareScratch(spec);
  const [cmd, ...args] = buildSandboxArgv(spec, hostSystemPaths());
  const started = performance.now();
  const child = spawn(cmd!, args, {
    // Nothing of the agent's environment reaches bwrap, which runs as root.
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    // Its own process group: a Ctrl-C meant for the agent does not reach the job directly.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) {
    child.once('error', () => {});
    throw new SlipwayError('EXEC_FAILED', `cannot start ${cmd}`);
  }
  const pid = child.pid;
  streamLines(child, spec.limits.outputLineBytes ?? DEFAULT_OUTPUT_LINE_BYTES, onLine);
  const stopper = new Stopper(pid, child.stdio[INFO_FD] as Readable);
  let timedOut = false;
  let cancelled = false;
  const timer = setTimeout(() => {
    timedOut = true;
    stopper.stop();
  }, spec.limits.timeoutMs);

  const done = new Promise<SandboxResult>((resolve, reject) => {
    child.once('error', (e) => {
      clearTimeout(timer);
      stopper.clear();
      reject(new SlipwayError('EXEC_FAILED', `sandbox failed: ${e.message}`, {}, { cause: e }));
    });
    child.once('close', (code, sig) => {
      clearTimeout(timer);
      stopper.clear();
      const durationMs = Math.round(performance.now() - started);
      // settle only reads /proc; should that fail, the job has still ended.
      void settle(spec.uid)
        .catch(() => undefined)
        .then(() =>
          resolve({
            exitCode: code,
            signal: sig,
            timedOut,
            cancelled,
            limitsBy: SANDBOX_LIMITS_BY,
            durationMs,
          }),
        );
    });
  });
  return {
    pid,
    done,
    cancel() {
      if (child.exitCode !== null || child.signalCode !== null || stopper.stopping) return;
      cancelled = true;
      stopper.stop();
    },
  };
}

function checkSpec(spec: SandboxSpec): void {
  const problems = sandboxSpecProblems(spec);
  if (problems.length === 0) problems.push(...hostPathProblems(spec));
  if (problems.length > 0) throw new ValidationError('invalid sandbox spec', problems);
}

/** What the host says against the spec's paths (checked once they are well-formed). */
function hostPathProblems(spec: SandboxSpec): Problem[] {
  const problems: Problem[] = [];
  if (statSync(spec.tree, { throwIfNoEntry: false })?.isDirectory() !== true)
    problems.push({ path: 'tree', message: `${spec.tree} is not a directory` });
  const scratch = statSync(spec.scratch, { throwIfNoEntry: false });
  if (scratch !== undefined && !scratch.isDirectory()) {
    problems.push({ path: 'scratch', message: `${spec.scratch} is not a directory` });
  } else if (scratch !== undefined && readdirSync(spec.scratch).length > 0) {
    problems.push({ path: 'scratch', message: `${spec.scratch} is not empty (one fresh per job)` });
  }
  (spec.binds ?? []).forEach((b, i) => {
    if (statSync(b.source, { throwIfNoEntry: false }) === undefined) {
      problems.push({ path: `binds[${i}].source`, message: `${b.source} does not exist` });
    }
  });
  return problems;
}

/** Only root can build the namespaces and then become the job's uid. */
function checkHost(): void {
  if (process.getuid?.() !== 0) {
    throw new SlipwayError('UNAVAILABLE', 'sandboxed jobs need the agent to run as root');
  }
  try {
    accessSync(SANDBOX_TOOLS.bwrap, constants.X_OK);
  } catch (e) {
    throw new SlipwayError(
      'UNAVAILABLE',
      `bubblewrap is not installed (${SANDBOX_TOOLS.bwrap})`,
      {},
      { cause: e },
    );
  }
}

/** Makes the scratch directory (when missing) with its home and tmp, all owned by the job's uid. */
function prepareScratch(spec: SandboxSpec): void {
  try {
    mkdirSync(spec.scratch, { recursive: true, mode: 0o700 });
    for (const dir of ['home', 'tmp']) {
      const path = join(spec.scratch, dir);
      mkdirSync(path, { mode: 0o700 });
      chownSync(path, spec.uid, spec.gid);
    }
    chownSync(spec.scratch, spec.uid, spec.gid);
    chmodSync(spec.scratch, 0o700);
  } catch (e) {
    throw new SlipwayError(
      'UNAVAILABLE',
      `cannot prepare scratch ${spec.scratch}: ${(e as Error).message}`,
      {},
      { cause: e },
    );
  }
}

/** Which of SYSTEM_PATHS this host has, and which of them are symlinks. */
function hostSystemPaths(): SystemPath[] {
  const paths: SystemPath[] = [];
  for (const path of SYSTEM_PATHS) {
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (st?.isSymbolicLink()) paths.push({ path, link: readlinkSync(path) });
    else if (st?.isDirectory()) paths.push({ path });
  }
  return paths;
}

/** Hands the child's stdout and stderr to `onLine`, line by line. */
function streamLines(child: ChildProcess, maxBytes: number, onLine: SandboxLineHandler): void {
  for (const [fd, stream] of [
    [1, 'stdout'],
    [2, 'stderr'],
  ] as const) {
    const lines = new LineSplitter(maxBytes, (line) => onLine(stream, line));
    // A pipe, as `stdio` asked: never null.
    const pipe = child.stdio[fd] as Readable;
    pipe.on('data', (d: Buffer) => lines.push(d));
    pipe.on('end', () => lines.end());
  }
}

/**
 * Stops a sandbox: SIGTERM to the job's processes, then SIGKILL to bwrap after the grace
 * period, which takes the sandbox's init and so, by the kernel, its whole PID namespace.
 */
class Stopper {
  /** The host pid of the sandbox's init, once bwrap has said it (on its info descriptor). */
  private initPid: number | null = null;
  private killTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly bwrapPid: number,
    info: Readable,
  ) {
    let text = '';
    info.on('data', (d: Buffer) => {
      text += d.toString();
      try {
        const pid = (JSON.parse(text) as { 'child-pid'?: unknown })['child-pid'];
        if (typeof pid === 'number' && Number.isInteger(pid) && pid > 1) this.initPid = pid;
      } catch {
        // not all of it yet
      }
    });
    info.on('error', () => {});
  }

  get stopping(): boolean {
    return this.killTimer !== undefined;
  }

  stop(): void {
    if (this.stopping) return;
    const killAll = () => signal(this.bwrapPid, 'SIGKILL');
    // Before bwrap said where the job is, there is no job yet to ask politely.
    if (this.initPid === null) killAll();
    else void signalNamespace(this.initPid, 'SIGTERM');
    this.killTimer = setTimeout(killAll, SANDBOX_GRACE_MS);
  }

  /** Forgets a pending SIGKILL: the sandbox is gone, and its pid may be reused. */
  clear(): void {
    clearTimeout(this.killTimer);
  }
}

/**
 * Sends `sig` to every process in the PID namespace whose init is `initPid`, the init aside
 * (it ignores signals it has no handler for). Finding them by namespace rather than by process
 * group reaches those that called setsid.
 */
async function signalNamespace(initPid: number, sig: NodeJS.Signals): Promise<void> {
  const ns = await readlink(`/proc/${initPid}/ns/pid`).catch(() => null);
  // A reused pid of a process beside the agent: never signal the agent's own namespace.
  if (ns === null || ns === (await readlink('/proc/self/ns/pid'))) return;
  const pids = (await readdir('/proc')).filter((n) => /^\d+$/.test(n)).map(Number);
  await Promise.all(
    pids.map(async (p) => {
      if (p !== initPid && (await readlink(`/proc/${p}/ns/pid`).catch(() => null)) === ns) {
        signal(p, sig);
      }
    }),
  );
}

/**
 * Waits for the last processes of the job's uid to be gone. Once bwrap has exited and its
 * pipes have closed, the kernel may still be tearing down processes of the PID namespace (they
 * close their descriptors before they are reaped); the next job in the same slot must not find
 * them counted against its process limit. Whatever is left after the grace period is killed.
 */
async function settle(uid: number): Promise<void> {
  const deadline = performance.now() + SANDBOX_GRACE_MS;
  // One look at every process; after that only at those found: no process starts in a PID
  // namespace whose init is gone, and reading all of /proc every few ms cost a busy host a core.
  let left = await processesOfUid(uid);
  while (left.length > 0) {
    if (performance.now() > deadline + 1000) return;
    if (performance.now() > deadline) for (const pid of left) signal(pid, 'SIGKILL');
    await sleep(10);
    left = (await Promise.all(left.map(async (p) => ((await uidOf(p)) === uid ? p : null)))).filter(
      (p): p is number => p !== null,
    );
  }
}

/** The real uid of process `pid`; null when it is gone. */
async function uidOf(pid: number): Promise<number | null> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const uid = status.match(/^Uid:\s+(\d+)/m)?.[1];
  return uid === undefined ? null : Number(uid);
}

/** Host pids whose real uid is `uid`. */
async function processesOfUid(uid: number): Promise<number[]> {
  const pids = (await readdir('/proc')).filter((n) => /^\d+$/.test(n)).map(Number);
  const uids = await Promise.all(pids.map(uidOf));
  return pids.filter((_, i) => uids[i] === uid);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}
