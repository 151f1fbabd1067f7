/**
 * Whether this host can run sandboxed jobs, and if not, why: the agent refuses jobs with that
 * reason rather than run them unsandboxed.
 */
import { access, chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SANDBOX_TOOLS } from './sandbox-argv.js';
import { SANDBOX_LIMITS_BY, startSandbox, type SandboxLimitsBy } from './sandbox.js';

/** What probeSandbox found. */
export type SandboxProbe =
  { ok: true; bwrap: string; limitsBy: SandboxLimitsBy } | { ok: false; reason: string };

/** The uid of the trial job: `nobody`, which owns nothing. */
const PROBE_UID = 65534;
const PROBE_TIMEOUT_MS = 10_000;

/** Where each program comes from on Debian, for the reason given when one is missing. */
const PACKAGE_OF: Record<keyof typeof SANDBOX_TOOLS, string> = {
  bwrap: 'bubblewrap',
  setpriv: 'util-linux',
  prlimit: 'util-linux',
  ionice: 'util-linux',
  nice: 'coreutils',
  env: 'coreutils',
};

/**
 * Checks that the agent runs as root and has the programs the sandbox uses, then runs a trial
 * job in a real sandbox (namespaces, mounts, the drop to an unprivileged uid), so that what
 * the kernel or its configuration refuses shows here, with bwrap's own words.
 */
export async function probeSandbox(): Promise<SandboxProbe> {
  if (process.getuid?.() !== 0) {
    return { ok: false, reason: 'the agent does not run as root, which the job sandbox needs' };
  }
  for (const [tool, path] of Object.entries(SANDBOX_TOOLS) as [
    keyof typeof SANDBOX_TOOLS,
    string,
  ][]) {
    try {
      await access(path, constants.X_OK);
    } catch {
      return { ok: false, reason: `${path} is missing (install the ${PACKAGE_OF[tool]} package)` };
    }
  }
  const failure = await trialJob();
  return failure === null
    ? { ok: true, bwrap: SANDBOX_TOOLS.bwrap, limitsBy: SANDBOX_LIMITS_BY }
    : { ok: false, reason: `a trial sandboxed job failed: ${failure}` };
}

/** Runs `id -u` sandboxed as PROBE_UID; null when it printed that uid, else what went wrong. */
async function trialJob(): Promise<string | null> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-sandbox-probe-'));
  try {
    const tree = join(dir, 'tree');
    const scratch = join(dir, 'scratch');
    await mkdir(tree);
    await mkdir(scratch);
    // The job's uid reads its tree (whatever the umask); the 0700 parent does not matter.
    await chmod(tree, 0o755);
    const lines: string[] = [];
    const run = startSandbox(
      {
        tree,
        scratch,
        argv: ['id', '-u'],
        env: {},
        network: false,
        uid: PROBE_UID,
        gid: PROBE_UID,
        limits: { timeoutMs: PROBE_TIMEOUT_MS },
      },
      (_stream, line) => lines.push(line),
    );
    const result = await run.done;
    if (result.exitCode === 0 && lines.join('\n') === String(PROBE_UID)) return null;
    const how = result.timedOut ? 'timed out' : `exit ${result.exitCode ?? result.signal}`;
    return `${how}: ${lines.join(' / ') || '(no output)'}`;
  } catch (e) {
    return (e as Error).message;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
