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

async function main(): Promise<void> {
  const { dataDir } = workerData as WorkerSettings;
  let db: PGlite;
  try {
    db = dataDir ? new PGlite(dataDir) : new PGlite();
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
