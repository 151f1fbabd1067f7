/**
 * The worker thread that runs the embedded database. PGlite executes queries synchronously in
 * WebAssembly, so on the main thread a backlog of queries would keep it from answering anything
 * else; here it only blocks this thread. Requests are handled one at a time, in arrival order
 * (PGlite is one session: a transaction is the requests between `begin` and its end).
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { toWire, type Reply, type Request, type WorkerSettings } from './pglite-protocol.js';

if (!parentPort) throw new Error('pglite-worker.ts runs as a worker thread (see pglite-thread.ts)');
const port: MessagePort = parentPort;
const send = (reply: Reply) => port.postMessage(reply);

async function handle(db: PGlite, req: Request): Promise<Reply> {
  switch (req.op) {
    case 'query': {
      const res = await db.query(req.sql, [...req.params], { rowMode: 'object' });
      return { kind: 'done', id: req.id, rows: res.rows, affectedRows: res.affectedRows };
    }
    case 'listen':
      await db.listen(req.channel, (payload) =>
        send({ kind: 'notification', channel: req.channel, payload }),
      );
      return { kind: 'done', id: req.id, rows: [], affectedRows: undefined };
    case 'close':
      await db.close();
      return { kind: 'done', id: req.id, rows: [], affectedRows: undefined };
  }
}

/** Handles one request and replies to it; never rejects, so the requests after it still run. */
async function answer(db: PGlite, req: Request): Promise<void> {
  let reply: Reply;
  try {
    reply = await handle(db, req);
  } catch (e) {
    reply = { kind: 'error', id: req.id, error: toWire(e) };
  }
  try {
    send(reply);
  } catch (e) {
    // A row that does not survive structured clone: the query fails, the worker goes on.
    send({ kind: 'error', id: req.id, error: toWire(e) });
  }
  // Closed: nothing more comes, and the thread ends once its port does.
  if (req.op === 'close') port.close();
}

/**
 * PostgreSQL settings for a database of Slipway's size, as `-c` start parameters after PGlite's
 * own. Shared buffers are PGlite's largest use of memory (128 MB by default, all of it touched
 * as the cache fills, never given back); the store's hot rows are a few MB at 10,000 hosts and
 * the server keeps what it reads often in memory, so 16 MB is plenty: a restarted server idles
 * 100 MB lower, and the store suite took the same time.
 */
const EMBEDDED_SETTINGS: Record<string, string> = {
  shared_buffers: '16MB',
  wal_buffers: '1MB',
  temp_buffers: '2MB',
};

async function main(): Promise<void> {
  const { dataDir } = workerData as WorkerSettings;
  const startParams = [
    ...PGlite.defaultStartParams,
    ...Object.entries(EMBEDDED_SETTINGS).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
  ];
  let db: PGlite;
  try {
    db = new PGlite(dataDir ?? undefined, { startParams });
    await db.waitReady;
  } catch (e) {
    send({ kind: 'failed', error: toWire(e) });
    port.close();
    return;
  }
  let queue = Promise.resolve();
  port.on('message', (req: Request) => {
    queue = queue.then(() => answer(db, req));
  });
  send({ kind: 'ready' });
}

await main();
