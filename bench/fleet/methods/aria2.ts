/**
 * A BitTorrent swarm with aria2c: the origin seeds the image, every host leeches it (and
 * passes pieces on) until it holds all of it. aria2c checks every piece's SHA-1 as it arrives;
 * the harness asks each client over its JSON-RPC port whether it has become a seeder.
 */
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { failOnExit, mean, startMeasure, type Context, type MethodResult } from '../context.js';
import { freePort, on, type Machine } from '../fleet.js';
import { verifyTree } from '../image.js';
import { eachLimited } from '../netns.js';
import { sleep, type Proc } from '../proc.js';
import { createTorrent } from '../torrent.js';
import { formatBytes } from '../units.js';
import { getJson, startOriginHelper } from './common.js';

const BT_PORT = 6881;
const RPC_PORT = 6800;
/** aria2's download id, fixed so the harness can ask about it. */
const GID = '5157a7e0b0b0b0b0';

interface Client {
  machine: Machine;
  proc: Proc;
  rpc: string;
}

interface Status {
  status: string;
  completedLength: string;
  totalLength: string;
  uploadLength: string;
  seeder?: string;
  errorMessage?: string;
}

async function tellStatus(c: Client, secret: string): Promise<Status> {
  const res = await getJson<{ result?: Status; error?: { message: string } }>(
    c.rpc,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: '1',
        method: 'aria2.tellStatus',
        params: [
          `token:${secret}`,
          GID,
          ['status', 'completedLength', 'totalLength', 'uploadLength', 'seeder', 'errorMessage'],
        ],
      }),
    },
    100,
  );
  if (!res.result) throw new Error(`aria2 RPC: ${res.error?.message ?? 'no result'}`);
  return res.result;
}

/** Runs the method; every aria2c and the helper are stopped before it returns. */
export async function aria2(ctx: Context): Promise<MethodResult> {
  const { fleet, image } = ctx;
  const secret = randomBytes(12).toString('hex');
  const helper = await startOriginHelper(ctx, image.dir);
  const clients: Client[] = [];
  try {
    const torrent = await createTorrent(image, basename(image.dir), `${helper.url}/announce`);
    const torrentFile = join(ctx.workDir, 'image.torrent');
    await writeFile(torrentFile, torrent.data);
    ctx.log(
      `aria2: torrent of ${torrent.pieces} pieces of ${formatBytes(torrent.pieceLength)}, ` +
        `info hash ${torrent.infoHash.toString('hex')}`,
    );

    const start = async (m: Machine, role: string[], name: string): Promise<Client> => {
      const bt = fleet.loopback ? await freePort() : BT_PORT;
      const rpc = fleet.loopback ? await freePort() : RPC_PORT;
      const argv = [
        'aria2c',
        '--no-conf',
        ...['--enable-dht=false', '--enable-dht6=false', '--bt-enable-lpd=false'],
        '--disable-ipv6=true',
        // Seed for ever: a host that has everything keeps passing pieces on, as in a real swarm.
        '--seed-ratio=0.0',
        `--listen-port=${bt}`,
        // Below this speed aria2 goes looking for more peers; the default (50 KiB/s) never triggers.
        `--bt-request-peer-speed-limit=${Math.floor(fleet.rate / 8)}`,
        '--file-allocation=none',
        ...['--follow-torrent=mem', '--bt-save-metadata=false', '--auto-save-interval=0'],
        ...['--console-log-level=notice', '--summary-interval=0', '--show-console-readout=false'],
        '--enable-color=false',
        ...['--enable-rpc=true', `--rpc-listen-port=${rpc}`, `--rpc-secret=${secret}`],
        `--rpc-listen-all=${fleet.loopback ? 'false' : 'true'}`,
        `--gid=${GID}`,
        // Dies with the harness, should the harness be killed outright.
        `--stop-with-process=${process.pid}`,
        ...role,
        torrentFile,
      ];
      const proc = ctx.procs.start(name, on(m, argv), {
        logFile: join(ctx.workDir, 'logs', `${name}.log`),
      });
      return { machine: m, proc, rpc: `http://${m.ip}:${rpc}/jsonrpc` };
    };

    const byteRate = (bits: number) => String(Math.floor(bits / 8));
    const seeder = await start(
      fleet.origin,
      [
        `--dir=${dirname(image.dir)}`,
        // The origin's copy is the reference: no need to hash it first.
        '--bt-seed-unverified=true',
        ...(fleet.loopback ? [`--max-overall-upload-limit=${byteRate(fleet.originRate)}`] : []),
      ],
      'aria2-seed',
    );
    clients.push(seeder);
    const hash = torrent.infoHash.toString('hex');
    for (let i = 0; ; i++) {
      const { peers } = await getJson<{ peers: number }>(`${helper.url}/swarm/${hash}`);
      if (peers >= 1) break;
      if (i > 300) throw new Error(`aria2 seeder never announced:\n${seeder.proc.tail()}`);
      await sleep(100);
    }
    await tellStatus(seeder, secret);

    const measure = startMeasure(fleet, fleet.hosts);
    const leechers: Client[] = [];
    for (const h of fleet.hosts) {
      leechers.push(
        await start(
          h,
          [
            `--dir=${join(h.dir, 'aria2')}`,
            '--check-integrity=true',
            ...(fleet.loopback
              ? [
                  `--max-overall-download-limit=${byteRate(fleet.rate)}`,
                  `--max-overall-upload-limit=${byteRate(fleet.rate)}`,
                ]
              : []),
          ],
          `aria2-${h.name}`,
        ),
      );
    }
    clients.push(...leechers);
    const early = failOnExit(clients.map((c) => c.proc));
    const received = new Map<string, number>();
    const waitAll = (async () => {
      let pending = [...leechers];
      while (pending.length > 0) {
        await sleep(200);
        const still: Client[] = [];
        await Promise.all(
          pending.map(async (c) => {
            const s = await tellStatus(c, secret);
            if (s.status === 'error') {
              throw new Error(`aria2 on ${c.machine.name}: ${s.errorMessage ?? 'error'}`);
            }
            if (s.seeder === 'true' || s.status === 'complete') {
              received.set(c.machine.name, Number(s.completedLength));
            } else still.push(c);
          }),
        );
        pending = still;
      }
    })();
    await Promise.race([waitAll, early.promise]);
    const m = measure.stop(leechers.map((c) => c.proc.pid));
    early.cancel();
    const seederUpload = Number((await tellStatus(seeder, secret)).uploadLength);
    for (const c of clients.reverse()) await c.proc.stop(5_000);
    clients.length = 0;

    // aria2 checked SHA-1 per piece; the SHA-256 of every file is checked too, off the clock.
    await eachLimited(fleet.hosts, 2, async (h) => {
      const problems = await verifyTree(join(h.dir, 'aria2', basename(image.dir)), image);
      if (problems.length > 0) {
        throw new Error(`aria2 on ${h.name}: ${problems.slice(0, 3).join('; ')}`);
      }
    });
    await Promise.all(fleet.hosts.map((h) => rm(join(h.dir, 'aria2'), { recursive: true })));
    return {
      method: 'aria2',
      hosts: fleet.hosts.length,
      seconds: m.seconds,
      originBytes: m.originTx ?? seederUpload,
      bytesPerHost: m.hostRx ? mean(m.hostRx) : mean([...received.values()]),
      cpuPercent: m.cpuPercent,
      hostCpuSeconds: m.hostCpuSeconds,
      notes: [
        `seeder uploaded ${formatBytes(seederUpload)} of payload ` +
          `(${(seederUpload / image.bytes).toFixed(2)} × the image)`,
      ],
    };
  } finally {
    for (const c of clients.reverse()) await c.proc.stop(5_000);
    await helper.proc.stop();
  }
}
