/**
 * Tearing down what a run built, whatever way it ends (done, failed, SIGINT, SIGTERM), and
 * what a crashed earlier run left behind. Everything the harness creates is named with the
 * `slw-` prefix: namespaces, links, the state directory.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signalGroup, startTimeOf } from './proc.js';

/** The prefix of every namespace, link and directory the harness creates. */
export const PREFIX = 'slw-';

/** Where runs keep their lock, pid list and work directories. */
export const STATE_DIR = join(tmpdir(), `${PREFIX}bench`);
const LOCK = join(STATE_DIR, 'lock');
/** Every process a run started, `pid starttime` a line. */
export const PID_FILE = join(STATE_DIR, 'pids');

type Step = () => Promise<void> | void;

/** Clean-up steps, run last added first, each once, errors reported and passed over. */
export class Teardown {
  private readonly steps: { name: string; fn: Step }[] = [];
  private running: Promise<void> | null = null;

  add(name: string, fn: Step): void {
    this.steps.push({ name, fn });
  }

  run(log: (line: string) => void): Promise<void> {
    this.running ??= (async () => {
      while (this.steps.length > 0) {
        const step = this.steps.pop()!;
        try {
          await step.fn();
        } catch (e) {
          log(`teardown: ${step.name}: ${(e as Error).message}`);
        }
      }
    })();
    return this.running;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Our namespaces and root-namespace links left by a run; [] when `ip` is missing. */
export function leftoverNetwork(): { namespaces: string[]; links: string[] } {
  const lines = (argv: string[]) => {
    try {
      return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: 'pipe' }).split('\n');
    } catch {
      return [];
    }
  };
  const namespaces = lines(['ip', 'netns', 'list'])
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(PREFIX));
  // `ip -o link` lines read `12: slw-v-h1@if2: <...>`.
  const links = lines(['ip', '-o', 'link', 'show'])
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? '')
    .filter((n) => n.startsWith(PREFIX));
  return { namespaces, links };
}

/**
 * Deletes our namespaces (after killing whatever still runs inside them: only the harness puts
 * processes there) and our links. Synchronous so the exit handler can use it.
 */
export function removeNetworkSync(): void {
  for (const ns of leftoverNetwork().namespaces) {
    try {
      const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', stdio: 'pipe' });
      for (const pid of pids.split('\n').filter(Boolean)) signalGroup(Number(pid), 'SIGKILL');
    } catch {
      // the namespace may be half gone already
    }
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'pipe' });
    } catch {
      // reported below if it stays
    }
  }
  // Deleting a namespace deletes its veth pairs; the bridge and any stray link remain.
  for (const link of leftoverNetwork().links) {
    try {
      execFileSync('ip', ['link', 'del', link], { stdio: 'pipe' });
    } catch {
      // gone meanwhile
    }
  }
}

/**
 * Takes the lock of the state directory and clears what an earlier run left: its processes
 * (by recorded pid and start time, so a reused pid is never hit), our namespaces and links,
 * its work directories. Throws when another run is alive.
 */
export function acquireAndClean(log: (line: string) => void): void {
  mkdirSync(STATE_DIR, { recursive: true });
  if (existsSync(LOCK)) {
    const [pidText, start] = readFileSync(LOCK, 'utf8').trim().split(' ');
    const pid = Number(pidText);
    if (pid && pid !== process.pid && alive(pid) && startTimeOf(pid) === start) {
      throw new Error(`another bench:fleet run (pid ${pid}) is active; stop it first`);
    }
  }
  writeFileSync(LOCK, `${process.pid} ${startTimeOf(process.pid) ?? '?'}\n`);

  let killed = 0;
  if (existsSync(PID_FILE)) {
    for (const line of readFileSync(PID_FILE, 'utf8').split('\n')) {
      const [pidText, start] = line.split(' ');
      const pid = Number(pidText);
      if (pid > 0 && start && startTimeOf(pid) === start) {
        signalGroup(pid, 'SIGKILL');
        killed++;
      }
    }
  }
  writeFileSync(PID_FILE, '');
  const { namespaces, links } = leftoverNetwork();
  if (namespaces.length > 0 || links.length > 0) removeNetworkSync();
  const dirs = readdirSync(STATE_DIR).filter((d) => d.startsWith('run-'));
  for (const d of dirs) rmSync(join(STATE_DIR, d), { recursive: true, force: true });
  if (killed + namespaces.length + links.length + dirs.length > 0) {
    log(
      `cleaned up after an earlier run: ${killed} processes, ${namespaces.length} namespaces, ` +
        `${links.length} links, ${dirs.length} work directories`,
    );
  }
}

/** Gives the lock back. */
export function releaseLock(): void {
  try {
    const [pidText] = readFileSync(LOCK, 'utf8').split(' ');
    if (Number(pidText) === process.pid) rmSync(LOCK);
  } catch {
    // already gone
  }
}
