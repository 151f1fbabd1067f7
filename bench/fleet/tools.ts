/** The programs the harness drives, and the Debian packages they come in. */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { MethodName } from './args.js';
import { run } from './proc.js';

const PACKAGE: Record<string, string> = {
  ip: 'iproute2',
  tc: 'iproute2',
  curl: 'curl',
  sha256sum: 'coreutils',
  aria2c: 'aria2',
  rsync: 'rsync',
  cp: 'coreutils',
};

/** The commands a run needs. */
export function toolsFor(methods: MethodName[], loopback: boolean): string[] {
  const tools = new Set<string>();
  if (!loopback) tools.add('ip').add('tc').add('curl');
  for (const m of methods) {
    if (m === 'http-pull') tools.add('curl').add('sha256sum');
    if (m === 'aria2') tools.add('aria2c');
    if (m === 'rsync') tools.add('rsync').add('cp');
  }
  return [...tools];
}

function onPath(cmd: string): boolean {
  // Root's tools (ip, tc) live in sbin, which a non-login PATH may lack.
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'];
  return dirs.some((d) => {
    try {
      accessSync(join(d, cmd), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * Makes sure every tool is there: with `install` (as root) apt-get installs the missing
 * packages, otherwise it throws with the command that would.
 */
export async function ensureTools(
  tools: string[],
  install: boolean,
  log: (line: string) => void,
): Promise<void> {
  const missing = tools.filter((t) => !onPath(t));
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((t) => PACKAGE[t] ?? t))];
  const command = `apt-get install -y ${packages.join(' ')}`;
  if (!install || process.getuid?.() !== 0) {
    throw new Error(
      `missing ${missing.join(', ')}: run \`${command}\` (or pass --install when root)`,
    );
  }
  log(`installing ${packages.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    await run(['apt-get', 'install', '-y', ...packages], { env, timeoutMs: 15 * 60_000 });
  } catch {
    // A fresh machine has no package lists yet.
    await run(['apt-get', 'update'], { env, timeoutMs: 15 * 60_000 });
    await run(['apt-get', 'install', '-y', ...packages], { env, timeoutMs: 15 * 60_000 });
  }
  const still = tools.filter((t) => !onPath(t));
  if (still.length > 0) throw new Error(`still missing after ${command}: ${still.join(', ')}`);
}
