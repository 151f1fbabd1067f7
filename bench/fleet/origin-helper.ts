/**
 * The origin's plain services, as one process the harness starts on the origin machine:
 *
 *   GET /files/<path>       the image's files (what a registry or artifact server does)
 *   GET /sink?bytes=N       N bytes, to measure what one TCP flow gets through the links
 *   GET /announce?…         a BitTorrent tracker
 *   GET /swarm/<info hash>  how many peers the tracker knows ({"peers": n}), to wait for the seeder
 *
 *   node --import tsx bench/fleet/origin-helper.ts --root DIR --listen HOST:PORT [--rate BITS]
 *
 * `--rate` caps what it sends, all connections together: the origin's link on loopback, where
 * there is no tc.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import { join, normalize } from 'node:path';
import { parseArgs } from 'node:util';
import { Tracker } from './tracker.js';

/** A rate shared by every response: each write waits for its turn on a virtual clock. */
class Pacer {
  private clock = 0;
  constructor(private readonly bytesPerSecond: number) {}

  async take(n: number): Promise<void> {
    const now = performance.now();
    // Up to 20 ms of credit, so a paused sender does not lose the time it was idle entirely.
    this.clock = Math.max(this.clock, now - 20) + (n / this.bytesPerSecond) * 1000;
    const wait = this.clock - now;
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  }
}

async function send(
  res: ServerResponse,
  chunks: AsyncIterable<Buffer> | Iterable<Buffer>,
  pacer: Pacer | null,
) {
  for await (const c of chunks) {
    if (pacer) await pacer.take(c.length);
    if (res.destroyed) return;
    if (!res.write(c)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.once('drain', done);
        res.once('close', done);
      });
    }
  }
  res.end();
}

function* zeros(n: number): Generator<Buffer> {
  const block = Buffer.alloc(64 * 1024);
  for (let left = n; left > 0; left -= block.length) {
    yield left >= block.length ? block : block.subarray(0, left);
  }
}

const { values } = parseArgs({
  options: {
    root: { type: 'string' },
    listen: { type: 'string', default: '127.0.0.1:0' },
    rate: { type: 'string' },
  },
});
const root = values.root ?? process.cwd();
const [host, portText] = values.listen.split(':');
const pacer = values.rate ? new Pacer(Number(values.rate) / 8) : null;
const tracker = new Tracker();

const server = createServer((req, res) => {
  const url = req.url ?? '/';
  const fail = (code: number, message: string) => {
    res.writeHead(code, { 'content-type': 'text/plain' });
    res.end(message + '\n');
  };
  void (async () => {
    if (url.startsWith('/announce')) return tracker.handle(req, res);
    const swarm = /^\/swarm\/([0-9a-f]{40})$/.exec(url);
    if (swarm) {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ peers: tracker.peers(swarm[1]!) }));
    }
    const sink = /^\/sink\?bytes=(\d+)$/.exec(url);
    if (sink) {
      const n = Number(sink[1]);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n });
      return send(res, zeros(n), pacer);
    }
    if (!url.startsWith('/files/')) return fail(404, 'not found');
    const rel = normalize(decodeURIComponent(url.slice('/files/'.length)));
    if (rel.startsWith('..') || rel.startsWith('/')) return fail(403, 'outside the root');
    const file = join(root, rel);
    const st = await stat(file).catch(() => null);
    if (!st?.isFile()) return fail(404, 'not found');
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': st.size });
    return send(
      res,
      createReadStream(file, { highWaterMark: 64 * 1024 }) as AsyncIterable<Buffer>,
      pacer,
    );
  })().catch((e: Error) => {
    if (!res.headersSent) fail(500, e.message);
    else res.destroy();
  });
});
// Thirty hosts pulling 16 MiB through a link three host links wide take about ten minutes, each
// curl one kept-alive connection for all files: Node's request and header timeouts, checked per
// connection, reset downloads still under way (nodejs/node#41934). A private lab network.
server.requestTimeout = 0;
server.headersTimeout = 0;
server.listen(Number(portText ?? 0), host, () => {
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  process.stderr.write(`origin helper listening on http://${host}:${port}\n`);
});
const stop = () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
