/**
 * Slipway itself: a server on the origin, an agent on every host (the first of each region its
 * relay), one service whose image is staged. The clock runs from creating the stage deployment
 * to its success, which the server declares once every host has fetched, verified and
 * materialized the release; building and uploading the image is the publisher's side and runs
 * before. The same fleet then stages the 1%-changed image.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SlipwayClient, type Host as HostView } from '../../../src/api/index.js';
import {
  failOnExit,
  mean,
  slipwayArgv,
  startMeasure,
  type Context,
  type MethodResult,
} from '../context.js';
import { cpuPercent, sampleCpu } from '../cpu.js';
import { freePort, on, type Host } from '../fleet.js';
import { verifyTree, type Tree } from '../image.js';
import { eachLimited } from '../netns.js';
import { run, sleep, type Proc } from '../proc.js';
import { formatBytes } from '../units.js';

const SERVICE = 'bench-image';
const SERVER_PORT = 7400;
const PEER_PORT = 7401;
const SOURCES = ['origin', 'relay', 'peer'] as const;
/** A stage in which no host moves for this long is stuck (a chunk takes well under a second). */
const STALL_MS = 60_000;
/** How often a stage's progress is polled (its end and each host's time come as events). */
const POLL_MS = 2_000;

/** A running Slipway fleet. */
export interface SlipwayFleet {
  /** Builds `tree` into an image (off the clock) and stages it on every host (on the clock). */
  stage(tree: Tree, method: 'slipway-cold' | 'slipway-delta'): Promise<MethodResult>;
  stop(): Promise<void>;
}

type Received = Map<string, Record<string, number>>;

function receivedBy(hosts: HostView[]): Received {
  return new Map(hosts.map((h) => [h.name, { ...h.bytesReceived }]));
}

const total = (r: Record<string, number> | undefined) =>
  Object.values(r ?? {}).reduce((a, b) => a + b, 0);

/** Starts the server and the agents, applies the service map; resolves once every host is online. */
export async function startSlipway(ctx: Context): Promise<SlipwayFleet> {
  const { fleet } = ctx;
  const procs: Proc[] = [];
  const logFile = (name: string) => join(ctx.workDir, 'logs', `slipway-${name}.log`);
  const stop = async () => {
    for (const p of procs.reverse()) await p.stop(10_000);
    procs.length = 0;
  };
  try {
    const dataDir = join(fleet.origin.dir, 'slipway-server');
    const port = fleet.loopback ? await freePort() : SERVER_PORT;
    const serverArgs = ['server', '--data-dir', dataDir, '--listen', `${fleet.origin.ip}:${port}`];
    // On loopback every agent calls from 127.0.0.1: the per-address cap would count them as one.
    if (fleet.loopback) serverArgs.push('--max-connections-per-address', '0');
    const server = ctx.procs.start('slipway-server', on(fleet.origin, slipwayArgv(serverArgs)), {
      logFile: logFile('server'),
    });
    procs.push(server);
    const url = (await server.waitForOutput(/listening on (http:\/\/\S+)/, 120_000))[1]!;
    const adminToken = (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim();
    // Agents read it from the file: on their command line, every local user would see it.
    const joinTokenFile = join(dataDir, 'join.token');
    const client = new SlipwayClient({ server: url, token: adminToken });
    // The CLI runs on the origin machine, so its uploads stay off the measured links.
    const cli = async (args: string[]) =>
      run(on(fleet.origin, slipwayArgv(args)), {
        env: { ...process.env, SLIPWAY_SERVER: url, SLIPWAY_TOKEN: adminToken },
        timeoutMs: 30 * 60_000,
      });

    const mapFile = join(ctx.workDir, 'slipway.yaml');
    // JSON is YAML. Stage-only deployments never start the service; it still needs a command.
    await writeFile(
      mapFile,
      JSON.stringify(
        {
          regions: fleet.regions,
          services: {
            [SERVICE]: {
              run: ['sleep', 'infinity'],
              placement: { regions: fleet.regions },
              rollout: { batchSize: '100%' },
            },
          },
        },
        null,
        2,
      ),
    );
    await cli(['apply', '-f', mapFile]);

    const agentArgs = (h: Host) => {
      const args = ['agent', '--server', url, '--join-token-file', joinTokenFile, '--name', h.name];
      args.push('--region', h.region, '--data-dir', join(h.dir, 'slipway-agent'));
      args.push('--peer-listen', fleet.loopback ? '127.0.0.1:0' : `${h.ip}:${PEER_PORT}`);
      if (h.relay) args.push('--relay');
      // On loopback the agent's own limiter stands in for the host's link.
      if (fleet.loopback) args.push('--max-bandwidth', `${Math.round(fleet.rate)}bit`);
      return args;
    };
    for (const h of fleet.hosts) {
      procs.push(
        ctx.procs.start(`slipway-agent-${h.name}`, on(h, slipwayArgv(agentArgs(h))), {
          logFile: logFile(h.name),
        }),
      );
    }
    const early = failOnExit(procs);
    const online = (async () => {
      for (let i = 0; ; i++) {
        const hosts = await client.listHosts();
        const up = hosts.filter((h) => h.online).length;
        if (up >= fleet.hosts.length) return;
        if (i % 20 === 19) ctx.log(`slipway: ${up} of ${fleet.hosts.length} agents online`);
        await sleep(500);
      }
    })();
    await Promise.race([online, early.promise]);
    early.cancel();

    return {
      stop,
      async stage(tree, method) {
        const built = JSON.parse(
          await cli(['build', tree.dir, '--service', SERVICE, '--json']),
        ) as { imageId: string; uploadedBytes: number; chunks: number };
        ctx.log(
          `${method}: built image ${built.imageId.slice(0, 12)} (${built.chunks} chunks, ` +
            `${formatBytes(built.uploadedBytes)} uploaded)`,
        );
        // Thirty agents starting up keep two cores busy for a while: wait until the fleet is
        // idle (what it then costs is reported, to tell apart from the transfer's).
        let idleCpu: number | null = null;
        for (let waited = 0; waited < 60; waited += 2) {
          const idle0 = sampleCpu();
          await sleep(2_000);
          idleCpu = cpuPercent(idle0, sampleCpu());
          if (idleCpu === null || idleCpu < 20) break;
        }
        const before = receivedBy(await client.listHosts());
        const early = failOnExit(procs);
        const measure = startMeasure(fleet, fleet.hosts);
        const started = Date.now();
        /** Seconds from the deployment's creation until each host was seen staged. */
        const stagedAt = new Map<string, number>();
        const deployment = await client.createDeployment({
          service: SERVICE,
          kind: 'stage',
          image: built.imageId,
        });
        // Each host's time comes from the server's event for it, and the end from the
        // deployment's: polling the deployment (every host's state, four times a second) cost
        // the origin's link about 2% at 30 hosts, taken from the relays' inflow, and more the
        // more hosts. Polling every POLL_MS still shows progress and notices a stuck fleet.
        let news = (): void => {};
        const following = new AbortController();
        const events = client
          .streamEvents(
            deployment.id,
            (e) => {
              // The server's time, even when a poll saw the host staged first.
              if (e.type === 'hosts.state' && e.data.state === 'staged') {
                for (const h of e.data.hosts as { hostName: string }[])
                  stagedAt.set(h.hostName, (Date.parse(e.at) - started) / 1000);
              }
              if (e.type === 'deployment.state') news();
            },
            following.signal,
          )
          // The polling below still sees the end and each host, less precisely: say so.
          .catch((e: Error) =>
            ctx.log(`${method}: event stream failed (${e.message}); times from polls`),
          );
        let lastLog = Date.now();
        let lastProgress = { at: Date.now(), key: '' };
        const done = (async () => {
          for (;;) {
            const d = await client.getDeployment(deployment.id);
            for (const h of d.hosts) {
              if (h.state === 'staged' && !stagedAt.has(h.hostName)) {
                stagedAt.set(h.hostName, (Date.now() - started) / 1000);
              }
            }
            if (d.state === 'succeeded') return d;
            if (['failed', 'rolled_back', 'cancelled'].includes(d.state)) {
              throw new Error(`${method}: deployment ${d.id} ended ${d.state}: ${d.reason ?? ''}`);
            }
            // A fleet where no host moves for STALL_MS is stuck: say which hosts, and stop.
            const key = d.hosts.map((h) => `${h.state}:${h.bytesDone ?? 0}`).join();
            if (key !== lastProgress.key) lastProgress = { at: Date.now(), key };
            else if (Date.now() - lastProgress.at > STALL_MS) {
              const stuck = d.hosts
                .filter((h) => h.state !== 'staged')
                .map(
                  (h) =>
                    `${h.hostName} ${h.state} ${formatBytes(h.bytesDone ?? 0)}/${formatBytes(h.bytesTotal ?? 0)}`,
                );
              throw new Error(
                `${method}: no host made progress for ${STALL_MS / 1000} s; not staged: ${stuck.join(', ')}`,
              );
            }
            if (Date.now() - lastLog > 10_000) {
              lastLog = Date.now();
              const staged = d.hosts.filter((h) => h.state === 'staged').length;
              const done = d.hosts.reduce((n, h) => n + (h.bytesDone ?? 0), 0);
              const all = d.hosts.reduce((n, h) => n + (h.bytesTotal ?? 0), 0);
              ctx.log(
                `${method}: ${staged}/${d.hosts.length} hosts staged` +
                  (all > 0 ? `, ${((100 * done) / all).toFixed(0)}% of their bytes fetched` : ''),
              );
            }
            await Promise.race([sleep(POLL_MS), new Promise<void>((r) => (news = r))]);
          }
        })();
        const final = await Promise.race([done, early.promise]).finally(() => {
          following.abort();
        });
        const m = measure.stop(procs.filter((p) => p !== server).map((p) => p.pid));
        early.cancel();
        await events;

        // Agents report their counters on their own schedule: wait until they settle.
        let after = receivedBy(await client.listHosts());
        for (let i = 0; i < 20; i++) {
          await sleep(500);
          const next = receivedBy(await client.listHosts());
          const sum = (r: Received) => [...r.values()].reduce((n, x) => n + total(x), 0);
          const settled = sum(next) === sum(after);
          after = next;
          if (settled && i >= 1) break;
        }
        const perHost = fleet.hosts.map((h) => {
          const a = after.get(h.name) ?? {};
          const b = before.get(h.name) ?? {};
          const out: Record<string, number> = {};
          for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
            out[k] = (a[k] ?? 0) - (b[k] ?? 0);
          }
          return out;
        });

        await eachLimited(fleet.hosts, 2, async (h) => {
          const dir = join(
            h.dir,
            'slipway-agent',
            'services',
            SERVICE,
            'releases',
            `v${final.release}`,
          );
          const problems = await verifyTree(dir, tree);
          if (problems.length > 0) {
            throw new Error(`${method} on ${h.name}: ${problems.slice(0, 3).join('; ')}`);
          }
        });

        const bySource = SOURCES.map((s) => {
          const v = mean(perHost.map((r) => r[s] ?? 0)) ?? 0;
          return `${s} ${formatBytes(v)}`;
        }).join(', ');
        const payload = mean(perHost.map(total)) ?? 0;
        const fromOrigin = perHost.reduce((n, r) => n + (r.origin ?? 0), 0);
        const notes = [
          `agents report per host on average ${formatBytes(payload)}: ${bySource}; ` +
            `origin sent ${formatBytes(fromOrigin)} of chunks in all`,
        ];
        notes.push(stagedByRegion(fleet.hosts, stagedAt));
        if (idleCpu !== null)
          notes.push(`the idle fleet kept the CPUs ${idleCpu.toFixed(0)}% busy`);
        if (method === 'slipway-delta') {
          notes.push(
            `changed bytes ${formatBytes(ctx.delta.changedBytes)}; agents received ` +
              `${(payload / ctx.delta.changedBytes).toFixed(2)} × that`,
          );
        }
        return {
          method,
          hosts: fleet.hosts.length,
          seconds: m.seconds,
          originBytes: m.originTx ?? fromOrigin,
          bytesPerHost: m.hostRx ? mean(m.hostRx) : payload,
          cpuPercent: m.cpuPercent,
          hostCpuSeconds: m.hostCpuSeconds,
          notes,
        };
      },
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * When each region's relay and the rest of its hosts were staged (as the control plane saw it,
 * every 250 ms): the gap between the two is what the peers' trading adds to the relay's fetch.
 */
function stagedByRegion(hosts: Host[], stagedAt: Map<string, number>): string {
  const at = (h: Host) => stagedAt.get(h.name) ?? NaN;
  const regions = [...new Set(hosts.map((h) => h.region))];
  const parts = regions.map((region) => {
    const members = hosts.filter((h) => h.region === region);
    const words: string[] = [];
    const relay = members.find((h) => h.relay);
    if (relay) words.push(`relay ${relay.name} ${at(relay).toFixed(1)} s`);
    const others = members.filter((h) => h !== relay).map(at);
    if (others.length > 0) {
      words.push(`hosts ${Math.min(...others).toFixed(1)}-${Math.max(...others).toFixed(1)} s`);
    }
    return `${region} ${words.join(', ')}`;
  });
  return `staged after: ${parts.join('; ')}`;
}
