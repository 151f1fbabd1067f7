/** Pieces several methods share. */
import { join } from 'node:path';
import { nodeScript, type Context } from '../context.js';
import { freePort, on } from '../fleet.js';
import type { Proc } from '../proc.js';

/** Where the origin helper listens on a namespaced fleet. */
const HELPER_PORT = 8080;

/** Starts the origin helper (files of `root`, tracker) on the origin; resolves once it listens. */
export async function startOriginHelper(
  ctx: Context,
  root: string,
): Promise<{ proc: Proc; url: string }> {
  const { fleet } = ctx;
  const port = fleet.loopback ? await freePort() : HELPER_PORT;
  const args = ['--root', root, '--listen', `${fleet.origin.ip}:${port}`];
  // Without namespaces there is no tc: the helper paces itself to the origin's rate.
  if (fleet.loopback) args.push('--rate', String(fleet.originRate));
  const proc = ctx.procs.start(
    'origin-helper',
    on(fleet.origin, nodeScript('origin-helper.ts', args)),
    {
      logFile: join(ctx.workDir, 'logs', 'origin-helper.log'),
    },
  );
  const m = await proc.waitForOutput(/listening on (http:\/\/\S+)/);
  return { proc, url: m[1]! };
}

/** GETs JSON, retrying while the other side starts (connection refused). */
export async function getJson<T>(url: string, init?: RequestInit, attempts = 50): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
      if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    } catch (e) {
      if (i >= attempts) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
