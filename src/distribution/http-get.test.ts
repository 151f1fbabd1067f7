// Kept-alive connections that the other end closes as a request goes out on them.
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { watchHaves } from './have-stream.js';
import { httpGet } from './http-get.js';

let server: Server | null = null;
const sockets = new Set<Socket>();
afterEach(async () => {
  // The client keeps its connections idle in its pool: close them here, not in 30 s.
  sockets.forEach((s) => s.destroy());
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = null;
});

/**
 * An HTTP/1.1 server that answers the first request of each connection with `reply` and keeps
 * the connection, then drops it unanswered when a second request arrives on it: what a server
 * whose idle limit just ran out does. Counts the connections it saw.
 */
async function closingServer(reply: string): Promise<{ url: string; connections: () => number }> {
  let connections = 0;
  server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    let requests = 0;
    let buffered = '';
    socket.on('data', (data: Buffer) => {
      buffered += data.toString('latin1');
      while (buffered.includes('\r\n\r\n')) {
        buffered = buffered.slice(buffered.indexOf('\r\n\r\n') + 4);
        if (++requests > 1) {
          socket.destroy();
          return;
        }
        socket.write(
          `HTTP/1.1 200 OK\r\nconnection: keep-alive\r\ncontent-length: ${reply.length}\r\n\r\n${reply}`,
        );
      }
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, connections: () => connections };
}

describe('a kept-alive connection closed by the server', () => {
  it('is not an error for a chunk GET: it is sent again on a new connection', async () => {
    const srv = await closingServer('chunk');
    const first = await httpGet(`${srv.url}/chunks/1`, { maxBytes: 100 });
    expect(first.body.toString()).toBe('chunk');
    // Goes out on the kept connection, which the server drops unanswered.
    const second = await httpGet(`${srv.url}/chunks/2`, { maxBytes: 100 });
    expect(second.status).toBe(200);
    expect(second.body.toString()).toBe('chunk');
    expect(srv.connections()).toBe(2);
  });

  it('is not an error for a have stream either', async () => {
    // A bitmap frame would be needed for a real stream; an empty 200 body is a stream that ended.
    const srv = await closingServer('');
    const signal = new AbortController().signal;
    expect(await watchHaves(`${srv.url}/images/x/haves`, {}, signal, () => {})).toBe(true);
    expect(await watchHaves(`${srv.url}/images/x/haves`, {}, signal, () => {})).toBe(true);
    expect(srv.connections()).toBe(2);
  });

  it('fails when the fresh connection is dropped too', async () => {
    let connections = 0;
    server = createServer((socket) => {
      connections++;
      socket.once('data', () => socket.destroy());
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await expect(httpGet(`http://127.0.0.1:${port}/chunks/1`, { maxBytes: 100 })).rejects.toThrow(
      /socket hang up/,
    );
    // A connection that was not reused is not retried: the server is really failing.
    expect(connections).toBe(1);
  });
});
