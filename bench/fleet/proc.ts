/**
 * The processes the harness starts: each in its own process group (so a signal reaches its
 * children too, and the terminal's Ctrl-C reaches only the harness, which then stops them in
 * order), its output in a log file, its pid recorded so that a later run can stop what a
 * crashed one left behind.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** How a process ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One started process. */
export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly logFile: string;
  readonly exited: Promise<Exit>;
  /** The end of what it printed, for error messages. */
  tail(lines?: number): string;
  /** Resolves with the first match of `re` in its output; rejects when it exits first. */
  waitForOutput(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** SIGTERM to its group, SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

/** Resolves `ms` milliseconds later. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The kernel's start time of a process (field 22 of /proc/PID/stat): tells a reused pid apart. */
export function startTimeOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

const KEEP_OUTPUT = 64 * 1024;

/** Starts and tracks processes; `stopAll` stops every one still running, last started first. */
export class Processes {
  private readonly running = new Set<Proc>();

  /** `pidFile` records every pid with its start time, for the next run's clean-up. */
  constructor(private readonly pidFile: string) {
    mkdirSync(dirname(pidFile), { recursive: true });
  }

  start(
    name: string,
    argv: string[],
    opts: { logFile: string; cwd?: string; env?: NodeJS.ProcessEnv },
  ): Proc {
    const [cmd, ...args] = argv;
    if (!cmd) throw new Error(`${name}: empty command`);
    mkdirSync(dirname(opts.logFile), { recursive: true });
    const log = createWriteStream(opts.logFile, { flags: 'a' });
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    if (child.pid === undefined) {
      // spawn reports ENOENT asynchronously; the error event below turns it into an exit.
    } else {
      appendFileSync(this.pidFile, `${child.pid} ${startTimeOf(child.pid) ?? '?'}\n`);
    }
    let output = '';
    const listeners = new Set<() => void>();
    const onData = (d: Buffer) => {
      log.write(d);
      output = (output + d.toString()).slice(-KEEP_OUTPUT);
      for (const l of listeners) l();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    const exited = new Promise<Exit>((resolve) => {
      child.once('error', (e) => {
        output += `\n${e.message}\n`;
        resolve({ code: 127, signal: null });
      });
      child.once('close', (code, signal) => resolve({ code, signal }));
    });
    const proc: Proc = {
      name,
      child,
      pid: child.pid ?? -1,
      logFile: opts.logFile,
      exited,
      tail: (lines = 20) => output.trimEnd().split('\n').slice(-lines).join('\n'),
      waitForOutput: (re, timeoutMs = 60_000) =>
        new Promise((resolve, reject) => {
          let settled = false;
          const finish = (err: Error | null, m?: RegExpMatchArray) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            listeners.delete(check);
            if (err) reject(err);
            else resolve(m!);
          };
          const check = () => {
            const m = re.exec(output);
            if (m) finish(null, m);
          };
          const timer = setTimeout(
            () => finish(new Error(`${name}: no ${re} within ${timeoutMs} ms\n${proc.tail()}`)),
            timeoutMs,
          );
          listeners.add(check);
          void exited.then((e) =>
            finish(new Error(`${name} exited (${describeExit(e)}) before ${re}\n${proc.tail()}`)),
          );
          check();
        }),
      stop: async (graceMs = 10_000) => {
        if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
          signalGroup(child.pid, 'SIGTERM');
          const timer = setTimeout(() => signalGroup(child.pid!, 'SIGKILL'), graceMs);
          await exited;
          clearTimeout(timer);
        }
        // Children it left behind in its group would hold sockets and files.
        if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
        this.running.delete(proc);
      },
    };
    void exited.then(() => log.end());
    this.running.add(proc);
    return proc;
  }

  /** Stops every tracked process, last started first, each within `graceMs`. */
  async stopAll(graceMs = 10_000): Promise<void> {
    for (const p of [...this.running].reverse()) await p.stop(graceMs);
  }

  /** For the exit handler, where nothing asynchronous runs any more: SIGKILL to every group. */
  killAllSync(): void {
    for (const p of this.running) signalGroup(p.pid, 'SIGKILL');
    this.running.clear();
  }
}

/** Signals a process group, ignoring one that is gone. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  if (pid <= 0) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** `code 1` / `signal SIGTERM`. */
export function describeExit(e: Exit): string {
  return e.signal ? `signal ${e.signal}` : `code ${e.code}`;
}

/** Runs a short command to completion; rejects with its stderr when it fails. */
export function run(
  argv: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<string> {
  const [cmd, ...args] = argv;
  return new Promise((resolve, reject) => {
    execFile(
      cmd!,
      args,
      {
        cwd: opts.cwd,
        env: opts.env ?? process.env,
        maxBuffer: 64 * 1024 * 1024,
        timeout: opts.timeoutMs ?? 120_000,
      },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`${argv.join(' ')}: ${stderr.trim() || err.message}`, { cause: err }));
        } else resolve(stdout);
      },
    );
  });
}
