/**
 * The fleet benchmark: the time until every host holds and has verified the same image, for
 * plain HTTP, a BitTorrent swarm (aria2c), Slipway cold and with a 1% update, and rsync of
 * that update to one host.
 *
 *   npm run bench:fleet -- --hosts 30 --regions 3 --size 256MiB --rate 100mbit [--json]
 *
 * As root the fleet is network namespaces on a bridge, every link shaped with tc; otherwise
 * (or with --loopback) everything runs on 127.0.0.1 with each tool's own rate limiter.
 * Everything it starts and builds is torn down at the end, on error and on SIGINT/SIGTERM.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseOptions, USAGE, type Options } from './args.js';
import {
  PID_FILE,
  STATE_DIR,
  Teardown,
  acquireAndClean,
  releaseLock,
  removeNetworkSync,
} from './cleanup.js';
import type { Context, MethodResult } from './context.js';
import { buildNetwork, on, planFleet, type Fleet } from './fleet.js';
import { makeDelta, makeImage } from './image.js';
import { CONGESTION_CONTROL, MTU, TCP_PAYLOAD_SHARE } from './netns.js';
import { aria2 } from './methods/aria2.js';
import { startOriginHelper } from './methods/common.js';
import { httpPull } from './methods/http-pull.js';
import { rsync } from './methods/rsync.js';
import { startSlipway } from './methods/slipway.js';
import { Processes, run } from './proc.js';
import { cpuWarning, jsonReport, limitSeconds, textReport } from './report.js';
import { toolsFor, ensureTools } from './tools.js';
import { formatBytes, formatRate } from './units.js';

const log = (line: string) => process.stderr.write(line + '\n');

// ip and tc live in sbin, which a PATH set up for a non-root user may lack.
process.env.PATH = [process.env.PATH, '/usr/sbin', '/sbin'].filter(Boolean).join(':');

let opts: Options;
try {
  opts = parseOptions(process.argv.slice(2), process.getuid?.() === 0);
} catch (e) {
  log(`${(e as Error).message}\n\n${USAGE}`);
  process.exit(2);
}

const teardown = new Teardown();
const procs = new Processes(PID_FILE);
let networkUp = false;
/** Set when the run fails: its logs then stay for a look (the next run clears them). */
let failed = false;

// The last line of defence: whatever way the process ends, nothing it started survives.
process.on('exit', () => {
  procs.killAllSync();
  if (networkUp) removeNetworkSync();
  releaseLock();
});
let signalled = false;
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.on(signal, () => {
    if (signalled) process.exit(code); // a second signal: the exit handler kills and deletes
    signalled = true;
    log(`${signal}: tearing down`);
    void teardown.run(log).finally(() => process.exit(code));
  });
}

/** What one TCP flow gets from the origin to the first host: the shaping's sanity check. */
async function singleFlow(ctx: Context): Promise<string> {
  const { fleet } = ctx;
  const h = fleet.hosts[0]!;
  const helper = await startOriginHelper(ctx, ctx.image.dir);
  try {
    const bytes = Math.max(4 * 1024 * 1024, Math.round((fleet.rate / 8) * 4));
    const curl = ['curl', '--fail', '--silent', '--show-error', '-o', '/dev/null'];
    if (fleet.loopback) curl.push('--limit-rate', String(Math.floor(fleet.rate / 8)));
    curl.push('-w', '%{speed_download}', `${helper.url}/sink?bytes=${bytes}`);
    const speed = Number(await run(on(h, curl))) * 8;
    const share = speed / Math.min(fleet.rate, fleet.originRate);
    const line =
      `single TCP flow origin → ${h.name}: ${formatRate(speed)} of payload ` +
      `(${(share * 100).toFixed(0)}% of the link; TCP/IP headers take ~${((1 - TCP_PAYLOAD_SHARE) * 100).toFixed(1)}% at MTU ${MTU})`;
    return share < 0.85 ? `${line}\nwarning: one flow does not reach the link rate` : line;
  } finally {
    await helper.proc.stop();
  }
}

function describeFleet(fleet: Fleet, o: Options, congestionControl: string | null): string {
  const relays = fleet.hosts.filter((h) => h.relay).map((h) => h.name);
  const tcp = congestionControl
    ? `TCP ${congestionControl}`
    : `TCP as the machine's default (this kernel has no ${CONGESTION_CONTROL})`;
  return (
    `fleet: ${o.hosts} hosts in ${o.regions} regions (relays ${relays.join(', ')}), ` +
    (fleet.loopback
      ? `loopback (rates emulated by the tools)${o.loopbackReason ? `: ${o.loopbackReason}` : ''}`
      : `network namespaces on a bridge, tc-shaped links, MTU ${MTU}, ${tcp}`) +
    `; host links ${formatRate(o.rate)} each way, origin ${formatRate(o.originRate)}`
  );
}

async function main(o: Options): Promise<void> {
  await ensureTools(toolsFor(o.methods, o.loopback), o.install, log);
  acquireAndClean(log);
  teardown.add('lock', releaseLock);
  const workDir = mkdtempSync(join(STATE_DIR, 'run-'));
  teardown.add('work directory', () => {
    if (o.keep) log(`kept ${workDir}`);
    else if (failed) {
      for (const d of ['trees', 'machines']) {
        rmSync(join(workDir, d), { recursive: true, force: true });
      }
      log(`logs kept in ${join(workDir, 'logs')}`);
    } else rmSync(workDir, { recursive: true, force: true });
  });

  const fleet = planFleet({ ...o, dir: workDir });
  let congestionControl: string | null = null;
  if (!fleet.loopback) {
    networkUp = true;
    teardown.add('network', () => {
      removeNetworkSync();
      networkUp = false;
    });
    log(`creating ${o.hosts + 1} namespaces`);
    congestionControl = await buildNetwork(fleet);
  }
  teardown.add('processes', () => procs.stopAll(5_000));

  log(`writing the ${formatBytes(o.size)} test image and its 1% update`);
  const image = await makeImage(
    join(workDir, 'trees', 'image'),
    o.size,
    join(workDir, 'image.sha256'),
  );
  const delta = await makeDelta(
    image,
    join(workDir, 'trees', 'image-update'),
    join(workDir, 'image-update.sha256'),
  );
  const ctx: Context = { opts: o, fleet, procs, image, delta, workDir, log };
  const header = [
    describeFleet(fleet, o, congestionControl),
    `image: ${formatBytes(image.bytes)} in ${image.files.length} files (pseudo-random, ` +
      `incompressible); update: ${delta.changes.length} changed regions in ` +
      `${new Set(delta.changes.map((c) => c.path)).size} files, half insertions`,
  ];
  header.push(await singleFlow(ctx));
  for (const line of header) log(line);

  const results: MethodResult[] = [];
  const limit = limitSeconds(o);
  const record = (r: MethodResult) => {
    results.push(r);
    log(
      `${r.method}: ${r.seconds.toFixed(1)} s (${(r.seconds / limit).toFixed(2)} × limit), ` +
        `CPU ${r.cpuPercent?.toFixed(0) ?? '?'}%`,
    );
    const w = cpuWarning(r);
    if (w) log(w);
  };
  // Three times what the slowest sane method takes (every host pulls the whole image through
  // the origin's link), plus start-up: beyond that a method is stuck, not slow.
  const blockLimit = (3 * o.hosts * o.size) / (o.originRate / 8) + 300;
  const failures: { method: string; error: string }[] = [];
  /** Runs one method (or the Slipway pair); a failure is reported and the next one runs. */
  const block = async (name: string, fn: (phase: (p: string) => void) => Promise<void>) => {
    // After SIGINT/SIGTERM the teardown owns everything: start nothing more.
    if (signalled) return;
    let current = name;
    log(`${name}: running`);
    const t0 = Date.now();
    const ticker = setInterval(
      () => log(`${current}: still running (${Math.round((Date.now() - t0) / 1000)} s)`),
      60_000,
    );
    let deadline: NodeJS.Timeout | undefined;
    try {
      const work = fn((p) => (current = p));
      // A method that hangs must not hold the run (and the machine) forever: after the
      // deadline it fails, and stopping its processes below ends whatever it still waits for.
      work.catch(() => {});
      await Promise.race([
        work,
        new Promise<never>((_, reject) => {
          deadline = setTimeout(
            () => reject(new Error(`no result after ${Math.round(blockLimit)} s; stopped`)),
            blockLimit * 1000,
          );
        }),
      ]);
    } catch (e) {
      if (signalled) return;
      failed = true;
      failures.push({ method: current, error: (e as Error).message });
      log(`${current} failed: ${(e as Error).message}`);
    } finally {
      clearInterval(ticker);
      clearTimeout(deadline);
    }
    if (!signalled) {
      // Whatever the method left running or on the machines' disks goes before the next one.
      await procs.stopAll(5_000);
      for (const m of [fleet.origin, ...fleet.hosts]) {
        rmSync(m.dir, { recursive: true, force: true });
        mkdirSync(m.dir, { recursive: true });
      }
      // What the method wrote should not be flushed to disk during the next one.
      await run(['sync']).catch(() => {});
    }
  };

  const selected = new Set(o.methods);
  if (selected.has('http-pull')) await block('http-pull', async () => record(await httpPull(ctx)));
  if (selected.has('aria2')) await block('aria2', async () => record(await aria2(ctx)));
  if (selected.has('slipway-cold') || selected.has('slipway-delta')) {
    await block('slipway-cold', async (phase) => {
      log('slipway: starting the server and the agents');
      const sw = await startSlipway(ctx);
      try {
        // The delta needs the cold image on the hosts, measured or not.
        const cold = await sw.stage(image, 'slipway-cold');
        if (selected.has('slipway-cold')) record(cold);
        phase('slipway-delta');
        if (selected.has('slipway-delta')) record(await sw.stage(delta.tree, 'slipway-delta'));
      } finally {
        await sw.stop();
      }
    });
  }
  if (selected.has('rsync')) await block('rsync', async () => record(await rsync(ctx)));
  if (signalled) return;

  process.stdout.write(textReport(o, results, delta.changedBytes, header, failures) + '\n');
  if (o.json) {
    const json = jsonReport(o, results, delta.changedBytes, failures);
    process.stdout.write(JSON.stringify(json) + '\n');
  }
  if (failures.length > 0) process.exitCode = 1;
}

try {
  await main(opts);
  await teardown.run(log);
} catch (e) {
  if (!signalled) {
    log(`bench:fleet failed: ${(e as Error).message}`);
    failed = true;
    await teardown.run(log);
  }
  process.exitCode = 1;
}
