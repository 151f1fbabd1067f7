/** File descriptors: every simulated agent holds sockets in this process and in the server. */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { CONNECTIONS_PER_AGENT } from './sim-fleet.js';

/** This process's open-file limits from /proc/self/limits; null where unknown. */
export function openFileLimits(): { soft: number; hard: number } | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const [soft, hard] = (line ?? '').split(/\s{2,}/).slice(1, 3);
    const num = (v: string | undefined) => (v === 'unlimited' ? Infinity : Number(v));
    const s = num(soft);
    const h = num(hard);
    return Number.isNaN(s) || Number.isNaN(h) ? null : { soft: s, hard: h };
  } catch {
    return null;
  }
}

/**
 * Descriptors `agents` simulated agents need in one process: a long poll each, connections for
 * their reports (their pools hold at most {@link CONNECTIONS_PER_AGENT} each), files, pipes and
 * the probes.
 */
export function descriptorsNeeded(agents: number): number {
  return Math.ceil(CONNECTIONS_PER_AGENT * agents) + 512;
}

const RAISED = 'SLIPWAY_BENCH_FANOUT_RAISED_NOFILE';

/**
 * Makes sure this process may open enough descriptors. Node cannot raise its own limit: when
 * the hard limit allows it, the bench runs itself again under `ulimit -n <hard>` (the servers,
 * its children, inherit it) and resolves with that run's exit code; null to go on in this process.
 * Throws, saying what to do, when even the hard limit is too low.
 */
export async function ensureDescriptors(agents: number): Promise<number | null> {
  const need = descriptorsNeeded(agents);
  const limits = openFileLimits();
  if (!limits || limits.soft >= need) return null;
  if (limits.hard < need || process.env[RAISED]) {
    throw new Error(
      `${agents} simulated agents need about ${need} open files in this process, but the limit is ` +
        `${limits.soft} (hard limit ${limits.hard}). Raise it (ulimit -n ${need}; as root, or in ` +
        `/etc/security/limits.conf), or run fewer agents.`,
    );
  }
  const argv = [process.execPath, ...process.execArgv, ...process.argv.slice(1)];
  const child = spawn('sh', ['-c', 'ulimit -n "$0" && exec "$@"', String(limits.hard), ...argv], {
    stdio: 'inherit',
    env: { ...process.env, [RAISED]: '1' },
  });
  // Ctrl-C reaches the child too (same process group): let it clean up and report.
  const ignore = () => {};
  process.on('SIGINT', ignore);
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
}
