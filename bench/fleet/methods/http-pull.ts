/**
 * Plain HTTP pull: every host downloads every file of the image from one HTTP server on the
 * origin, then checks every file's SHA-256. What registry pulls and copy-over-SSH tools amount
 * to: the origin's link carries the image once per host.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { expectSuccess, mean, startMeasure, type Context, type MethodResult } from '../context.js';
import { on } from '../fleet.js';
import { startOriginHelper } from './common.js';

/** Runs the method; the origin helper is stopped before it returns. */
export async function httpPull(ctx: Context): Promise<MethodResult> {
  const { fleet, image } = ctx;
  const helper = await startOriginHelper(ctx, image.dir);
  try {
    const measure = startMeasure(fleet, fleet.hosts);
    await Promise.all(
      fleet.hosts.map(async (h) => {
        const dest = join(h.dir, 'http-pull');
        const curl = ['curl', '--fail', '--silent', '--show-error', '--create-dirs'];
        // As a registry pull would: a download that breaks is tried again (in 30-host runs a
        // host's connection is now and then reset after minutes, cause not found yet; one run
        // saw five resets on one host; the retries' time counts, and curl's warnings are in the
        // host's log). A file that still fails stops curl: by default it would go on to the
        // next file and exit 0 if that one succeeded.
        curl.push('--retry', '10', '--retry-all-errors', '--retry-delay', '1', '--fail-early');
        // On loopback curl's own limiter stands in for the host's link.
        if (fleet.loopback) curl.push('--limit-rate', String(Math.floor(fleet.rate / 8)));
        for (const f of image.files) {
          curl.push('-o', join(dest, f.path), `${helper.url}/files/${encodeURI(f.path)}`);
        }
        const logFile = join(ctx.workDir, 'logs', `http-pull-${h.name}.log`);
        await expectSuccess(ctx.procs.start(`curl on ${h.name}`, on(h, curl), { logFile }));
        await expectSuccess(
          ctx.procs.start(
            `sha256sum on ${h.name}`,
            ['sha256sum', '--check', '--quiet', '--strict', image.sumsFile],
            { logFile, cwd: dest },
          ),
        );
      }),
    );
    const m = measure.stop();
    await Promise.all(fleet.hosts.map((h) => rm(join(h.dir, 'http-pull'), { recursive: true })));
    return {
      method: 'http-pull',
      hosts: fleet.hosts.length,
      seconds: m.seconds,
      // On loopback the helper sent each host the whole image: nothing else to count.
      originBytes: m.originTx ?? image.bytes * fleet.hosts.length,
      bytesPerHost: m.hostRx ? mean(m.hostRx) : image.bytes,
      cpuPercent: m.cpuPercent,
      hostCpuSeconds: null,
      notes: [],
    };
  } finally {
    await helper.proc.stop();
  }
}
