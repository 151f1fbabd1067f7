/** Health checks: one probe (HTTP, TCP or a command), waiting for health, and watching it after. */
import { connect } from 'node:net';
import { sleep, type HealthProbe, type HealthSpec } from '../core/index.js';
import { runCommand } from './run-command.js';
import { argvOf } from './run-spec.js';

export interface ProbeTarget {
  host: string;
  port: number | null;
  cwd: string;
  env: Record<string, string>;
}

export interface ProbeResult {
  ok: boolean;
  detail: string;
}

/** Runs one probe; never throws. */
export async function probeOnce(
  probe: HealthProbe,
  target: ProbeTarget,
  timeoutMs: number,
): Promise<ProbeResult> {
  if (probe.kind === 'command') {
    try {
      const r = await runCommand(argvOf(probe.run), {
        cwd: target.cwd,
        env: target.env,
        timeoutMs,
      });
      if (r.timedOut) return { ok: false, detail: `command timed out after ${timeoutMs} ms` };
      const out = (r.stderr || r.stdout).trim().split('\n').pop() ?? '';
      return r.code === 0
        ? { ok: true, detail: 'exit 0' }
        : { ok: false, detail: `exit ${r.code ?? r.signal}${out ? `: ${out.slice(0, 200)}` : ''}` };
    } catch (e) {
      return { ok: false, detail: (e as Error).message };
    }
  }
  if (target.port === null) return { ok: false, detail: 'no port' };
  if (probe.kind === 'tcp') return tcpProbe(target.host, target.port, timeoutMs);
  try {
    const res = await fetch(`http://${target.host}:${target.port}${probe.path}`, {
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'manual',
    });
    await res.arrayBuffer().catch(() => undefined);
    return res.status < 400
      ? { ok: true, detail: `HTTP ${res.status}` }
      : { ok: false, detail: `HTTP ${res.status}` };
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause;
    const what =
      (e as Error).name === 'TimeoutError'
        ? `timed out after ${timeoutMs} ms`
        : (cause?.code ?? (e as Error).message);
    return { ok: false, detail: `GET ${probe.path}: ${what}` };
  }
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const done = (r: ProbeResult) => {
      sock.destroy();
      resolve(r);
    };
    sock.setTimeout(timeoutMs, () =>
      done({ ok: false, detail: `connect timed out after ${timeoutMs} ms` }),
    );
    sock.once('connect', () => done({ ok: true, detail: 'connected' }));
    sock.once('error', (e: NodeJS.ErrnoException) =>
      done({ ok: false, detail: `connect ${e.code ?? e.message}` }),
    );
  });
}

/**
 * Probes until `healthyAfter` consecutive successes (healthy) or until `deadlineMs` has passed
 * (unhealthy, with the last failure).
 */
export async function waitHealthy(
  spec: HealthSpec,
  target: ProbeTarget,
  opts: { signal?: AbortSignal; onProbe?: (r: ProbeResult) => void } = {},
): Promise<{ healthy: boolean; detail: string; probes: number }> {
  const started = Date.now();
  let streak = 0;
  let probes = 0;
  let last = 'no probe yet';
  for (;;) {
    if (opts.signal?.aborted) return { healthy: false, detail: 'aborted', probes };
    const r = await probeOnce(spec.probe, target, spec.timeoutMs);
    probes++;
    opts.onProbe?.(r);
    if (r.ok) {
      if (++streak >= spec.healthyAfter) return { healthy: true, detail: r.detail, probes };
    } else {
      streak = 0;
      last = r.detail;
    }
    const elapsed = Date.now() - started;
    if (elapsed >= spec.deadlineMs) {
      return {
        healthy: false,
        detail: `${last} (not healthy after ${(elapsed / 1000).toFixed(1)}s)`,
        probes,
      };
    }
    await sleep(Math.min(spec.intervalMs, spec.deadlineMs - elapsed), opts.signal);
  }
}

/** Consecutive failures after which a healthy service counts as unhealthy again. */
const UNHEALTHY_AFTER = 3;

/** Watches a service that became healthy; calls `onChange` only when its health flips. */
export class HealthMonitor {
  private timer: NodeJS.Timeout | null = null;
  private healthy = true;
  private failures = 0;
  private successes = 0;
  private stopped = false;

  constructor(
    private readonly spec: HealthSpec,
    private readonly target: ProbeTarget,
    private readonly onChange: (healthy: boolean, detail: string) => void,
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /**
   * Unhealthy now, whatever the last probe said (its process exited: a restart that comes up
   * between two probes must not pass for the process that was healthy); healthy again after
   * `healthyAfter` probes in a row pass.
   */
  markUnhealthy(detail: string): void {
    this.successes = 0;
    this.failures = 0;
    if (!this.healthy) return;
    this.healthy = false;
    this.onChange(false, detail);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), this.spec.intervalMs);
  }

  private async tick(): Promise<void> {
    const r = await probeOnce(this.spec.probe, this.target, this.spec.timeoutMs);
    if (this.stopped) return;
    if (r.ok) {
      this.failures = 0;
      if (!this.healthy && ++this.successes >= this.spec.healthyAfter) {
        this.healthy = true;
        this.onChange(true, r.detail);
      }
    } else {
      this.successes = 0;
      if (this.healthy && ++this.failures >= UNHEALTHY_AFTER) {
        this.healthy = false;
        this.onChange(false, r.detail);
      }
    }
    this.schedule();
  }
}
