/** Finding a free TCP port on loopback for a service to keep. */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';

/** Where the kernel takes outgoing connections' local ports from, when it cannot be read. */
const DEFAULT_EPHEMERAL_LOW = 32768;
/** How far below the ephemeral range service ports are chosen. */
const SPAN = 12_000;

/**
 * A port that was free a moment ago, chosen below the kernel's ephemeral range: a service keeps
 * its port across activations, and a port from that range can meanwhile be the local end of
 * any outgoing connection on the host, which would make the next activation fail to bind it.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const low = await ephemeralLow();
  const from = Math.max(1024, low - SPAN);
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = from + Math.floor(Math.random() * (low - from));
    if (await canListen(host, port)) return port;
  }
  return listenAndClose(host, 0);
}

/** Read once per process: every activation asks for a port. */
let ephemeralLowOnce: Promise<number> | null = null;

function ephemeralLow(): Promise<number> {
  ephemeralLowOnce ??= readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').then(
    (text) => {
      const low = Number(text.split(/\s+/)[0]);
      return low > 1024 ? low : DEFAULT_EPHEMERAL_LOW;
    },
    () => DEFAULT_EPHEMERAL_LOW,
  );
  return ephemeralLowOnce;
}

function canListen(host: string, port: number): Promise<boolean> {
  return listenAndClose(host, port).then(
    () => true,
    () => false,
  );
}

function listenAndClose(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(port, host, () => {
      const addr = srv.address();
      const bound = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(bound));
    });
  });
}
