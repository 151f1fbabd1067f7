/**
 * rsync, for one host: the update (1% changed) onto a copy of the old tree, from an rsync
 * daemon on the origin over the same shaped link. The yardstick for the delta: rsync's
 * rolling checksums find moved and changed blocks down to about a kilobyte.
 */
import { createConnection } from 'node:net';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expectSuccess, startMeasure, type Context, type MethodResult } from '../context.js';
import { freePort, on } from '../fleet.js';
import { verifyTree } from '../image.js';
import { run, sleep } from '../proc.js';
import { formatBytes } from '../units.js';

const RSYNC_PORT = 873;

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host, port }, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Reads `Total bytes received: 1,234` from `rsync --stats`. */
export function statsValue(stats: string, label: string): number | null {
  const m = new RegExp(`^${label}:\\s*([\\d,.]+)`, 'm').exec(stats);
  return m ? Number(m[1]!.replace(/,/g, '')) : null;
}

/** Runs the method on the first host; the daemon is stopped before it returns. */
export async function rsync(ctx: Context): Promise<MethodResult> {
  const { fleet, image, delta } = ctx;
  const host = fleet.hosts[0]!;
  const port = fleet.loopback ? await freePort() : RSYNC_PORT;
  const config = join(ctx.workDir, 'rsyncd.conf');
  const asRoot = process.getuid?.() === 0;
  await writeFile(
    config,
    [
      'use chroot = no',
      `log file = ${join(ctx.workDir, 'logs', 'rsyncd.log')}`,
      // Run as root the daemon would switch to nobody, who cannot enter the private work dir.
      ...(asRoot ? ['uid = root', 'gid = root'] : []),
      '[image]',
      `  path = ${delta.tree.dir}`,
      '  read only = yes',
      '',
    ].join('\n'),
  );
  const daemon = ctx.procs.start(
    'rsync-daemon',
    on(fleet.origin, [
      'rsync',
      '--daemon',
      '--no-detach',
      `--config=${config}`,
      `--address=${fleet.origin.ip}`,
      `--port=${port}`,
    ]),
    { logFile: join(ctx.workDir, 'logs', 'rsync-daemon.log') },
  );
  const dest = join(host.dir, 'rsync');
  try {
    for (let i = 0; !(await canConnect(fleet.origin.ip, port)); i++) {
      if (i > 100 || daemon.child.exitCode !== null) {
        throw new Error(`rsync daemon did not start:\n${daemon.tail()}`);
      }
      await sleep(100);
    }
    // The host holds the old release, times and all, as it would after the cold deploy.
    await run(['cp', '-a', image.dir, dest]);

    const argv = ['rsync', '-a', '--stats'];
    if (fleet.loopback) argv.push(`--bwlimit=${Math.max(1, Math.floor(fleet.rate / 8 / 1024))}`);
    argv.push(`rsync://${fleet.origin.ip}:${port}/image/`, `${dest}/`);
    const measure = startMeasure(fleet, [host]);
    const client = ctx.procs.start(`rsync on ${host.name}`, on(host, argv), {
      logFile: join(ctx.workDir, 'logs', `rsync-${host.name}.log`),
    });
    await expectSuccess(client);
    const m = measure.stop();
    const stats = client.tail(40);
    const received = statsValue(stats, 'Total bytes received');
    const sent = statsValue(stats, 'Total bytes sent');
    const problems = await verifyTree(dest, delta.tree);
    if (problems.length > 0) throw new Error(`rsync: ${problems.slice(0, 3).join('; ')}`);
    return {
      method: 'rsync',
      hosts: 1,
      seconds: m.seconds,
      originBytes: m.originTx ?? received,
      bytesPerHost: m.hostRx ? m.hostRx[0]! : received,
      cpuPercent: m.cpuPercent,
      hostCpuSeconds: null,
      notes: [
        `rsync --stats: received ${received === null ? '?' : formatBytes(received)}, ` +
          `sent ${sent === null ? '?' : formatBytes(sent)}; ` +
          `changed bytes ${formatBytes(delta.changedBytes)}` +
          (received === null
            ? ''
            : ` (received ${(received / delta.changedBytes).toFixed(2)} × changed)`),
      ],
    };
  } finally {
    await daemon.stop(5_000);
    await rm(dest, { recursive: true, force: true });
  }
}
