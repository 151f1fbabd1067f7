/** The URL this agent's peer server is reachable at, as other hosts of the region see it. */
import { connect } from 'node:net';

/**
 * When the peer server listens on a wildcard address, advertise the address this host uses to
 * reach the control plane: on the host's own network, that is the interface peers can reach.
 */
export async function advertisedUrl(listenUrl: string, serverUrl: string): Promise<string> {
  const listen = new URL(listenUrl);
  const wildcard = ['0.0.0.0', '[::]'].includes(listen.hostname);
  if (!wildcard) return listenUrl;
  const server = new URL(serverUrl);
  const local = await new Promise<string | null>((resolve) => {
    const socket = connect({ host: server.hostname, port: Number(server.port || 80) }, () => {
      const addr = socket.localAddress ?? null;
      socket.destroy();
      resolve(addr);
    });
    socket.once('error', () => resolve(null));
    socket.setTimeout(5_000, () => {
      socket.destroy();
      resolve(null);
    });
  });
  const host = local ?? '127.0.0.1';
  listen.hostname = host.includes(':') ? `[${host}]` : host;
  return listen.toString().replace(/\/$/, '');
}
