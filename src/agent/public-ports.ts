/**
 * Public ports: a service that `publish`es a fixed port is reached there, whichever release
 * runs; each release listens on a port of its own, and switching releases points the public
 * port at the new one once it is healthy. Connections already open finish on the old release
 * (stopped after a drain time); no connection is refused meanwhile.
 *
 * Two ways, chosen per host:
 * - `nftables`: the kernel redirects the public port to the release's port (a NAT rule per
 *   service, replaced atomically; existing connections keep their mapping). Nothing on the data
 *   path, and it outlives the agent: an agent restart does not touch the service's traffic.
 *   Needs `nft` and the right to change the host's firewall (root or CAP_NET_ADMIN).
 * - `proxy`: the agent listens on the public port and relays each connection to the release's
 *   port. Works without privileges, costs a hop per connection, and goes down while the agent
 *   restarts.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { SlipwayError } from '../core/index.js';
import { runCommand } from '../executor/index.js';

export type PublishVia = 'nftables' | 'proxy';

/**
 * The nftables table of the agent's redirects: `slipway`, or SLIPWAY_NFT_TABLE (for hosts whose
 * firewall manager owns that name, and for tests that must not touch each other's rules).
 */
export function nftTable(): string {
  return process.env.SLIPWAY_NFT_TABLE ?? 'slipway';
}

export class PublicPorts {
  private nftables: Promise<boolean> | null = null;
  private readonly proxies = new Map<string, Proxy>();

  constructor(
    private readonly log: (msg: string) => void = () => {},
    /** The nftables table its redirects go in. */
    private readonly table: string = nftTable(),
  ) {}

  /**
   * Points `service`'s public port at `target` (a port on 127.0.0.1), the way `want` says
   * (`auto`: nftables where it can change the host's firewall, else the proxy); answers the
   * way it took.
   */
  async point(
    service: string,
    publicPort: number,
    target: number,
    want: PublishVia | 'auto',
  ): Promise<PublishVia> {
    const via = want === 'auto' ? ((await this.canUseNftables()) ? 'nftables' : 'proxy') : want;
    if (via === 'nftables') {
      await this.closeProxy(service);
      await redirect(this.table, service, publicPort, target);
    } else {
      await unredirect(this.table, service).catch(() => {});
      await this.proxyFor(service, publicPort).then((p) => p.pointAt(target));
    }
    return via;
  }

  /** The service no longer runs here: its public port goes away. */
  async close(service: string): Promise<void> {
    await this.closeProxy(service);
    // Without nft, or without a redirect of this service, there is nothing to remove.
    await unredirect(this.table, service).catch(() => {});
  }

  /** The agent stops: proxies stop (their services keep running); kernel redirects stay. */
  async leave(): Promise<void> {
    for (const s of [...this.proxies.keys()]) await this.closeProxy(s);
  }

  private canUseNftables(): Promise<boolean> {
    this.nftables ??= nft([`add table ip ${this.table}`]).then(
      () => true,
      (e: unknown) => {
        this.log(`public ports: nftables not usable here (${(e as Error).message}); proxying`);
        return false;
      },
    );
    return this.nftables;
  }

  private async proxyFor(service: string, port: number): Promise<Proxy> {
    let p = this.proxies.get(service);
    if (p && p.port !== port) {
      await this.closeProxy(service);
      p = undefined;
    }
    if (!p) {
      p = await Proxy.listen(port);
      this.proxies.set(service, p);
    }
    return p;
  }

  private async closeProxy(service: string): Promise<void> {
    const p = this.proxies.get(service);
    this.proxies.delete(service);
    await p?.close();
  }
}

/** The nft chain of a service (service names are lowercase letters, digits and dashes). */
function chainOf(service: string): string {
  return `svc_${service.replace(/-/g, '_')}`;
}

/**
 * Replaces the service's redirect in one nft transaction: connections to the public port of any
 * local address, from this host (output) or from outside (prerouting), go to `target`.
 */
async function redirect(
  table: string,
  service: string,
  publicPort: number,
  target: number,
): Promise<void> {
  const chain = chainOf(service);
  const listed = await nft(['list', 'table', 'ip', table]).catch(() => '');
  const jumped = listed.includes(`jump ${chain}`);
  await nft([
    [
      `add table ip ${table}`,
      `add chain ip ${table} output { type nat hook output priority -100 ; }`,
      `add chain ip ${table} prerouting { type nat hook prerouting priority -100 ; }`,
      `add chain ip ${table} ${chain}`,
      `flush chain ip ${table} ${chain}`,
      `add rule ip ${table} ${chain} tcp dport ${publicPort} fib daddr type local redirect to :${target}`,
      ...(jumped
        ? []
        : [
            `add rule ip ${table} output jump ${chain}`,
            `add rule ip ${table} prerouting jump ${chain}`,
          ]),
    ].join('\n'),
  ]);
}

async function unredirect(table: string, service: string): Promise<void> {
  const chain = chainOf(service);
  const listed = await nft(['-a', 'list', 'table', 'ip', table]);
  // `jump svc_x # handle N`, each under the base chain it is in.
  const deletes: string[] = [];
  let base = '';
  for (const line of listed.split('\n')) {
    const c = /^\s*chain (\S+) \{/.exec(line);
    if (c) base = c[1]!;
    const j = new RegExp(`^\\s*jump ${chain} # handle (\\d+)`).exec(line);
    if (j) deletes.push(`delete rule ip ${table} ${base} handle ${j[1]}`);
  }
  await nft([[...deletes, `delete chain ip ${table} ${chain}`].join('\n')]);
}

/** Runs nft with `args` (a script of commands is one transaction); answers its output. */
async function nft(args: string[]): Promise<string> {
  const r = await runCommand(['nft', ...args], { timeoutMs: 10_000 });
  if (r.code !== 0) {
    const why = (r.stderr || r.stdout).trim().split('\n')[0] ?? `exit ${String(r.code)}`;
    throw new SlipwayError('EXEC_FAILED', `nft: ${why}`);
  }
  return r.stdout;
}

/** How long the proxy keeps a connection whose other side has closed, for its last bytes. */
const HALF_CLOSED_MS = 10_000;

/** A TCP relay from a public port to the port of the release that runs. */
class Proxy {
  private target = 0;
  private constructor(
    readonly port: number,
    private readonly server: Server,
    private readonly open: Set<Socket>,
  ) {}

  static listen(port: number): Promise<Proxy> {
    const open = new Set<Socket>();
    const server = createServer({ noDelay: true });
    const proxy = new Proxy(port, server, open);
    server.on('connection', (client) => proxy.relay(client));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, () => {
        server.off('error', reject);
        resolve(proxy);
      });
    });
  }

  pointAt(target: number): void {
    this.target = target;
  }

  private relay(client: Socket): void {
    // Each connection keeps the release it was relayed to: a switch moves new ones only.
    const upstream = createConnection({ host: '127.0.0.1', port: this.target, noDelay: true });
    this.open.add(client);
    this.open.add(upstream);
    // An error on one side ends the other at once. A side that closes cleanly only ends the
    // other, which first sends what it still holds: destroying it at once (as this did) could
    // cut off the end of an answer, which the asker saw as a reset connection on a busy host.
    const link = (a: Socket, b: Socket) => {
      a.on('error', () => b.destroy());
      a.once('close', () => {
        this.open.delete(a);
        if (b.destroyed) return;
        b.end();
        // A peer that never closes its side is not waited on for ever.
        setTimeout(() => b.destroy(), HALF_CLOSED_MS).unref();
      });
    };
    link(client, upstream);
    link(upstream, client);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  close(): Promise<void> {
    for (const s of this.open) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}
