import { describe, expect, it } from 'vitest';
import { hostReport } from '../../api/index.js';
import type { HostRow } from '../../store/index.js';
import { DROPPED_POLL_GRACE_MS, ONLINE_WINDOW_MS } from './online.js';
import { REFRESH_MS, RegionPeers, SWEEP_MS, type HostSource } from './region-peers.js';

const T0 = Date.parse('2026-12-07T05:00:00Z');
const at = (ms: number) => new Date(T0 + ms);

function row(id: string, region: string, more: Partial<HostRow> = {}): HostRow {
  return {
    id,
    name: `name-${id}`,
    region,
    labels: {},
    createdAt: at(0),
    lastSeenAt: null,
    report: null,
    bytesReceived: {},
    goalGeneration: 0,
    relay: false,
    ...more,
  };
}

/** A store's hosts, counting the reads. */
function source(rows: HostRow[] = []) {
  const reads = { list: 0, byId: 0 };
  const src: HostSource = {
    list: () => {
      reads.list++;
      return Promise.resolve(rows.map((r) => ({ ...r })));
    },
    byId: (id) => {
      reads.byId++;
      const r = rows.find((x) => x.id === id);
      return Promise.resolve(r && { ...r });
    },
  };
  return { rows, reads, src };
}

const url = (id: string) => `http://${id}.peers.test:7401`;
const names = (peers: { hostId: string }[]) => peers.map((p) => p.hostId).sort();

/** `n` hosts of region r1 enrolled here and reporting peer URLs at `ms`. */
function region(n: number, ms = 0) {
  const s = source();
  const peers = new RegionPeers(s.src);
  const enroll = (r: HostRow) => {
    s.rows.push(r);
    peers.enrolled(r, at(ms));
  };
  const ids = Array.from({ length: n }, (_, i) => `h${String(i).padStart(4, '0')}`);
  for (const id of ids) {
    enroll(row(id, 'r1'));
    peers.reported(id, url(id), at(ms));
  }
  return { ...s, peers, ids, enroll };
}

describe('region peers', () => {
  it('name the region’s reporting hosts with their checked URLs, never the asking host', async () => {
    const { peers, ids, enroll } = region(5);
    enroll(row('other', 'r2'));
    peers.reported('other', url('other'), at(0));
    enroll(row('quiet', 'r1')); // no peer URL: never handed out
    peers.reported('quiet', null, at(0));
    const a = await peers.answer({ id: 'h0000', region: 'r1', relay: false }, T0 + 10, 32);
    expect(names(a.others)).toEqual(ids.slice(1));
    expect(a.others.find((p) => p.hostId === 'h0001')).toEqual({
      hostId: 'h0001',
      name: 'name-h0001',
      url: url('h0001'),
      relay: false,
    });
    expect(a.relays).toEqual([]);
  });

  it('send a bounded random sample of a large region, all distinct', async () => {
    const { peers, ids } = region(500);
    const a = await peers.answer({ id: 'h0007', region: 'r1', relay: false }, T0 + 10, 32);
    expect(a.others).toHaveLength(32);
    expect(new Set(names(a.others)).size).toBe(32);
    expect(names(a.others)).not.toContain('h0007');
    for (const p of a.others) expect(ids).toContain(p.hostId);
  });

  it('always name a relay that just reported, apart from the sample', async () => {
    const { peers, enroll } = region(200);
    enroll(row('relay', 'r1', { relay: true }));
    await peers.answer({ id: 'h0001', region: 'r1', relay: false }, T0 + 6, 32);
    peers.reported('relay', url('relay'), at(7));
    for (let i = 0; i < 20; i++) {
      const a = await peers.answer({ id: `h000${i % 10}`, region: 'r1', relay: false }, T0 + 8, 32);
      expect(a.relays.map((p) => [p.hostId, p.relay])).toEqual([['relay', true]]);
      expect(a.others).toHaveLength(32);
      expect(names(a.others)).not.toContain('relay');
    }
    // A relay is not its own peer, and has no share.
    const r = await peers.answer({ id: 'relay', region: 'r1', relay: true }, T0 + 8, 32);
    expect(r.relays).toEqual([]);
    expect(r.share).toBeNull();
  });

  it('follow an operator’s relay changes and removals at once', async () => {
    const { peers, rows } = region(3);
    const ask = () => peers.answer({ id: 'h0000', region: 'r1', relay: false }, T0 + 10, 32);
    await ask();
    rows[1]!.relay = true; // committed
    peers.relayChanged('h0001', true, T0 + 10);
    let a = await ask();
    expect(names(a.relays)).toEqual(['h0001']);
    expect(names(a.others)).toEqual(['h0002']);
    expect(a.share).toEqual({ index: 0, of: 2 });
    rows[1]!.relay = false;
    peers.relayChanged('h0001', false, T0 + 10);
    rows.splice(2, 1);
    peers.removed('h0002');
    a = await ask();
    expect(a.relays).toEqual([]);
    expect(names(a.others)).toEqual(['h0001']);
    expect(a.share).toEqual({ index: 0, of: 2 });
  });

  it('give every non-relay host of a region its own share, 0..n-1 of n', async () => {
    const { peers, ids, enroll } = region(57);
    enroll(row('relay', 'r1', { relay: true }));
    peers.reported('relay', url('relay'), at(0));
    const shares = [];
    for (const id of ids) {
      const a = await peers.answer({ id, region: 'r1', relay: false }, T0 + 10, 32);
      expect(a.share!.of).toBe(ids.length);
      shares.push(a.share!.index);
    }
    expect(shares).toEqual([...Array(ids.length).keys()]);
    // A host without a peer URL (yet) counts itself in, as before.
    const a = await peers.answer({ id: 'h0003x', region: 'r1', relay: false }, T0 + 10, 32);
    expect(a.share).toEqual({ index: 4, of: ids.length + 1 });
  });

  it('leave out hosts that went offline, and take them back once heard from', async () => {
    const { peers } = region(3);
    peers.reported('h0002', url('h0002'), at(10_000));
    const later = T0 + ONLINE_WINDOW_MS + 1;
    // Checked at answer time, before the region's next sweep too.
    let a = await peers.answer({ id: 'h0002', region: 'r1', relay: false }, later, 32);
    expect(a.others).toEqual([]);
    a = await peers.answer({ id: 'h0002', region: 'r1', relay: false }, later + SWEEP_MS, 32);
    expect(a.others).toEqual([]);
    expect(a.share).toEqual({ index: 0, of: 1 });
    peers.heard('h0000', new Date(later + SWEEP_MS));
    a = await peers.answer({ id: 'h0002', region: 'r1', relay: false }, later + SWEEP_MS, 32);
    expect(names(a.others)).toEqual(['h0000']);
    expect(a.share).toEqual({ index: 1, of: 2 });
  });

  it('leave out a host whose long poll dropped here, after the grace', async () => {
    const { peers } = region(2);
    peers.pollDropped('h0001', at(100));
    const ask = (ms: number) =>
      peers.answer({ id: 'h0000', region: 'r1', relay: false }, T0 + ms, 32);
    expect(names((await ask(100 + DROPPED_POLL_GRACE_MS - 1)).others)).toEqual(['h0001']);
    expect((await ask(100 + DROPPED_POLL_GRACE_MS)).others).toEqual([]);
  });

  it('learn hosts that report to another server from the store, one read per refresh', async () => {
    const { rows, reads, src } = source([
      row('a', 'r1', { lastSeenAt: at(0), report: report(url('a')) }),
      row('b', 'r1', { lastSeenAt: at(0), report: report(url('b')), relay: true }),
      row('gone', 'r1', { lastSeenAt: at(-60_000), report: report(url('gone')) }),
    ]);
    const peers = new RegionPeers(src);
    const ask = (ms: number) => peers.answer({ id: 'me', region: 'r1', relay: false }, T0 + ms, 32);
    let a = await ask(10);
    expect(names(a.others)).toEqual(['a']);
    expect(names(a.relays)).toEqual(['b']);
    for (let i = 0; i < 50; i++) await ask(20 + i);
    expect(reads).toEqual({ list: 1, byId: 0 });
    // Another server takes a new host's report, and removes one.
    rows.push(row('c', 'r1', { lastSeenAt: at(3_000), report: report(url('c')) }));
    rows.splice(0, 1);
    await ask(REFRESH_MS.postgres + 10); // starts the read, answers from what it has
    await settle();
    a = await ask(REFRESH_MS.postgres + 20);
    expect(reads).toEqual({ list: 2, byId: 0 });
    expect(names(a.others)).toEqual(['c']);
  });

  it('do not bring back a host removed here while a store read was under way', async () => {
    const { rows, peers } = region(2);
    const ask = (ms: number) =>
      peers.answer({ id: 'h0000', region: 'r1', relay: false }, T0 + ms, 32);
    await ask(10);
    // Its report was written behind.
    Object.assign(rows[1]!, { lastSeenAt: at(REFRESH_MS.postgres), report: report(url('h0001')) });
    const read = ask(REFRESH_MS.postgres + 10); // the read begins, with h0001 still stored
    peers.removed('h0001');
    rows.splice(1, 1);
    await read;
    await settle();
    expect((await ask(REFRESH_MS.postgres + 20)).others).toEqual([]);
  });

  it('read a host it hears from before the store told it the host’s region', async () => {
    const { rows, reads, src } = source([]);
    const peers = new RegionPeers(src);
    await peers.answer({ id: 'me', region: 'r1', relay: false }, T0, 32);
    // Enrolled on another server, then reports here at once.
    rows.push(row('relay', 'r1', { relay: true }));
    peers.reported('relay', url('relay'), at(10));
    const a = await peers.answer({ id: 'me', region: 'r1', relay: false }, T0 + 20, 32);
    expect(names(a.relays)).toEqual(['relay']);
    expect(reads.byId).toBe(1);
  });
});

function report(checkedPeerUrl: string) {
  return hostReport.parse({ services: [], checkedPeerUrl });
}

async function settle() {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}
