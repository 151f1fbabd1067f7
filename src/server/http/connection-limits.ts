/**
 * What one caller may hold of the server before it is known who they are: how long a request may
 * take to arrive, how long an idle connection is kept, and how many connections one address may
 * have open. Without these, thousands of connections that send a header or a byte of body and
 * then nothing hold the server's descriptors forever and it answers nobody.
 */
import type { Server, ServerOptions } from 'node:http';
import type { Socket } from 'node:net';

export interface ConnectionLimits {
  /** The request's headers must have arrived within this long of its start. */
  headersTimeoutMs: number;
  /**
   * The whole request (headers and body) must have arrived within this long. Only receiving:
   * a response may stream for longer (event streams, long polls).
   */
  requestTimeoutMs: number;
  /** An idle connection between two requests is closed after this long. */
  keepAliveTimeoutMs: number;
  /**
   * A connection on which nothing moves either way for this long is closed. Must exceed the
   * longest long poll (60 s) and the event streams' heartbeat (15 s).
   */
  idleTimeoutMs: number;
  /** How often the timeouts above are checked. */
  checkIntervalMs: number;
  /** Connections one address may have open at once; more are closed at once. 0: no cap. */
  maxConnectionsPerAddress: number;
}

export const DEFAULT_CONNECTION_LIMITS: Readonly<ConnectionLimits> = Object.freeze({
  headersTimeoutMs: 15_000,
  // A 64 MiB manifest at 1 MB/s still arrives in time.
  requestTimeoutMs: 120_000,
  // Longer than an idle agent's minute between reports: its report's connection lives on to the
  // next one. Shorter, and a goal change to 10,000 agents had each open a new connection at once
  // (for its report or its next long poll), more than the kernel's queue of connections to
  // accept takes: the rest, and operators' requests with them, waited out SYN retransmissions.
  keepAliveTimeoutMs: 75_000,
  idleTimeoutMs: 120_000,
  checkIntervalMs: 1_000,
  maxConnectionsPerAddress: 256,
});

/** The Fastify options that set the Node server's timeouts. */
export function fastifyTimeoutOptions(limits: ConnectionLimits): {
  connectionTimeout: number;
  keepAliveTimeout: number;
  requestTimeout: number;
  http: ServerOptions;
} {
  return {
    connectionTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    http: {
      // Node refuses a headers timeout longer than the request timeout.
      headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs),
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: limits.checkIntervalMs,
    },
  };
}

/** The caller's address, with IPv4 seen through an IPv6 socket written as IPv4. */
export function addressOf(socket: Socket): string {
  const a = socket.remoteAddress ?? 'unknown';
  return a.startsWith('::ffff:') ? a.slice('::ffff:'.length) : a;
}

/**
 * Closes, as soon as it is accepted, every connection beyond `max` from one address. Returns the
 * count of open connections per address (for tests and metrics).
 */
export function capConnectionsPerAddress(server: Server, max: number): Map<string, number> {
  const open = new Map<string, number>();
  if (max <= 0) return open;
  // Before the HTTP server's own listener: an extra connection is never parsed.
  server.prependListener('connection', (socket: Socket) => {
    const address = addressOf(socket);
    const count = open.get(address) ?? 0;
    if (count >= max) {
      socket.destroy();
      return;
    }
    open.set(address, count + 1);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
  });
  return open;
}
