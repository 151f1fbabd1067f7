/**
 * A minimal BitTorrent HTTP tracker (BEP 3 announce, BEP 23 compact peer lists): enough for a
 * swarm of aria2c clients, with no persistence and no scrape.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { shuffle } from '../../src/core/index.js';
import { bencode } from './bencode.js';

interface PeerEntry {
  ip: string;
  port: number;
  left: number;
  seenAt: number;
}

/** How often clients announce again; short, so late joiners are found fast. */
const INTERVAL_S = 2;
const DEFAULT_NUMWANT = 50;
/** A peer silent for this long is dropped. */
const EXPIRE_MS = 30_000;

/** Decodes a query-string value byte by byte (info_hash and peer_id are raw bytes). */
export function percentDecodeBytes(s: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '%' && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      out.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c === '+') out.push(0x20);
    else out.push(...Buffer.from(c, 'utf8'));
  }
  return Buffer.from(out);
}

/** Peers by torrent; answers announces. */
export class Tracker {
  private readonly swarms = new Map<string, Map<string, PeerEntry>>();

  /** Announces seen so far, per info hash (hex): lets the harness wait for the seeder. */
  peers(infoHashHex: string): number {
    return this.swarms.get(infoHashHex)?.size ?? 0;
  }

  /** Handles `GET /announce?…`. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    const query = new Map<string, Buffer>();
    for (const pair of (req.url ?? '').split('?')[1]?.split('&') ?? []) {
      const eq = pair.indexOf('=');
      if (eq > 0) query.set(pair.slice(0, eq), percentDecodeBytes(pair.slice(eq + 1)));
    }
    const reply = (body: Parameters<typeof bencode>[0]) => {
      const data = bencode(body);
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': data.length });
      res.end(data);
    };
    const infoHash = query.get('info_hash');
    const peerId = query.get('peer_id');
    const port = Number(query.get('port')?.toString());
    if (infoHash?.length !== 20 || !peerId || !(port > 0 && port < 65536)) {
      return reply({ 'failure reason': 'info_hash, peer_id and port are required' });
    }
    const ip = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const key = infoHash.toString('hex');
    let swarm = this.swarms.get(key);
    if (!swarm) {
      swarm = new Map<string, PeerEntry>();
      this.swarms.set(key, swarm);
    }
    const now = Date.now();
    for (const [id, p] of swarm) if (now - p.seenAt > EXPIRE_MS) swarm.delete(id);
    const id = peerId.toString('hex');
    const event = query.get('event')?.toString();
    if (event === 'stopped') swarm.delete(id);
    else {
      const left = Number(query.get('left')?.toString() ?? '0');
      swarm.set(id, { ip, port, left, seenAt: now });
    }
    const numwant = Number(query.get('numwant')?.toString() ?? DEFAULT_NUMWANT) || DEFAULT_NUMWANT;
    // A random subset, so that in a big swarm not everyone gets the same first peers.
    const others = shuffle([...swarm.entries()].filter(([pid]) => pid !== id).map(([, p]) => p));
    const chosen = others.slice(0, numwant).filter((p) => /^\d+\.\d+\.\d+\.\d+$/.test(p.ip));
    const compact = Buffer.alloc(chosen.length * 6);
    chosen.forEach((p, i) => {
      p.ip.split('.').forEach((octet, k) => compact.writeUInt8(Number(octet), i * 6 + k));
      compact.writeUInt16BE(p.port, i * 6 + 4);
    });
    const seeders = [...swarm.values()].filter((p) => p.left === 0).length;
    reply({
      interval: INTERVAL_S,
      'min interval': 1,
      complete: seeders,
      incomplete: swarm.size - seeders,
      peers: compact,
    });
  }
}
