import { describe, expect, it } from 'vitest';
import { hostReport } from '../../api/index.js';
import type { HostRow, Store } from '../../store/index.js';
import { DROPPED_POLL_GRACE_MS, ONLINE_WINDOW_MS, isOnline } from '../views.js';
import { LiveHosts } from './live-hosts.js';
import { until } from '../../../test/helpers/until.js';

const T0 = Date.parse('2026-12-07T05:00:00Z');
const at = (ms: number) => new Date(T0 + ms);
const report = hostReport.parse({ services: [] });

/** One stored host, whose last-seen time another server may move too. */
function oneHost() {
  const row: HostRow = {
    id: 'h1',
    name: 'web-1',
    region: 'r1',
    labels: {},
    createdAt: at(0),
    lastSeenAt: null,
    report: null,
    bytesReceived: {},
    goalGeneration: 0,
    relay: false,
  };
  const saveLiveState = (states: Map<string, { seenAt: Date }>) => {
    for (const s of states.values()) row.lastSeenAt = s.seenAt;
    return Promise.resolve();
  };
  const store = {
    hosts: {
      byId: () => Promise.resolve({ ...row }),
      byIds: () => Promise.resolve([{ ...row }]),
      list: () => Promise.resolve([{ ...row }]),
      changedSince: () => Promise.resolve({ hosts: [{ ...row }], now: new Date() }),
    },
    transaction: (work: (tx: unknown) => Promise<unknown>) => work({ hosts: { saveLiveState } }),
  } as unknown as Store;
  const live = new LiveHosts(store);
  const onlineAt = async (ms: number) => isOnline((await live.byId('h1'))!, T0 + ms);
  return { row, live, onlineAt };
}

describe('a host is online', () => {
  it('while it reports, and for the online window after its last report', async () => {
    const { live, onlineAt } = oneHost();
    expect(await onlineAt(0)).toBe(false);
    live.report('h1', report, at(0));
    expect(await onlineAt(ONLINE_WINDOW_MS - 1)).toBe(true);
    expect(await onlineAt(ONLINE_WINDOW_MS)).toBe(false);
    await live.close();
  });

  it('no longer once its goal long poll dropped here and nothing was heard since', async () => {
    const { live, onlineAt } = oneHost();
    live.pollOpened('h1', at(0));
    live.report('h1', report, at(1_000));
    // The agent dies: the kernel closes its long poll's connection.
    live.pollClosed('h1', at(2_000));
    expect(await onlineAt(2_000 + DROPPED_POLL_GRACE_MS - 1)).toBe(true);
    expect(await onlineAt(2_000 + DROPPED_POLL_GRACE_MS)).toBe(false);
    // Well before the report window ends.
    expect(2_000 + DROPPED_POLL_GRACE_MS).toBeLessThan(1_000 + ONLINE_WINDOW_MS);
    await live.close();
  });

  it('again once it polls or reports after a drop', async () => {
    const { live, onlineAt } = oneHost();
    live.pollOpened('h1', at(0));
    live.pollClosed('h1', at(1_000));
    expect(await onlineAt(10_000)).toBe(false);
    live.pollOpened('h1', at(10_000));
    expect(await onlineAt(10_000)).toBe(true);
    live.pollClosed('h1', at(11_000));
    live.report('h1', report, at(12_000));
    expect(await onlineAt(20_000)).toBe(true);
    await live.close();
  });

  it('when another server heard from it after the drop here', async () => {
    const { row, live, onlineAt } = oneHost();
    live.pollOpened('h1', at(0));
    await live.flush();
    live.pollClosed('h1', at(1_000));
    // The agent polls another server now, which writes the last-seen time it saw.
    row.lastSeenAt = at(1_500);
    await live.refresh();
    expect(await onlineAt(9_000)).toBe(true);
    await live.close();
  });

  it('while another long poll of it is open here, and after an answered one', async () => {
    const { live, onlineAt } = oneHost();
    live.pollOpened('h1', at(0));
    live.pollOpened('h1', at(500)); // a new poll before the old connection's close was seen
    live.pollClosed('h1', at(1_000));
    expect(await onlineAt(9_000)).toBe(true);
    live.pollClosed('h1', null); // answered
    expect(await onlineAt(9_000)).toBe(true);
    await live.close();
  });
});

/**
 * A store of one host whose writes each wait to be let through (the one database session is
 * another transaction's meanwhile): `gates` holds a release for each write waiting, in order.
 */
function gatedStore(row: HostRow) {
  const gates: (() => void)[] = [];
  const written: Date[][] = [];
  const store = {
    hosts: {
      byIds: () => Promise.resolve([{ ...row }]),
      changedSince: () => Promise.resolve({ hosts: [{ ...row }], now: new Date() }),
      byId: () => Promise.resolve({ ...row }),
    },
    transaction: async (work: (tx: unknown) => Promise<unknown>) => {
      await new Promise<void>((r) => gates.push(r));
      return work({
        hosts: {
          saveLiveState: (states: Map<string, { seenAt: Date }>) => {
            written.push([...states.values()].map((s) => s.seenAt));
            return Promise.resolve();
          },
        },
      });
    },
  } as unknown as Store;
  return { store, gates, written };
}

describe('a host being written', () => {
  it('shows what was heard of it while the write is under way', async () => {
    const { store, gates } = gatedStore(oneHost().row);
    const live = new LiveHosts(store);
    live.report('h1', report, at(0));
    const flushed = live.flush();
    // That other transaction reads the hosts from the store: the row does not say it yet.
    const [h] = await live.byIds(['h1'], store);
    expect(h!.lastSeenAt).toEqual(at(0));
    expect(h!.report).toEqual(report);
    await until('the write to wait for the session', () => gates.length === 1);
    gates.shift()!();
    await flushed;
    await live.close();
  });

  it('writes one batch at a time, in order, each visible until it is written', async () => {
    const { store, gates, written } = gatedStore(oneHost().row);
    const live = new LiveHosts(store);
    live.report('h1', report, at(0));
    const first = live.flush();
    await new Promise((r) => setImmediate(r));
    live.touch('h1', at(5_000));
    const second = live.flush();
    await new Promise((r) => setImmediate(r));
    // The second waits for the first: one transaction asked for, the first batch still shown.
    expect(gates).toHaveLength(1);
    const shown = (await live.byId('h1'))!;
    expect(shown.lastSeenAt).toEqual(at(5_000));
    expect(shown.report).toEqual(report);
    gates.shift()!();
    await first;
    await until('the second write to begin', () => gates.length === 1);
    gates.shift()!();
    await second;
    expect(written).toEqual([[at(0)], [at(5_000)]]);
    await live.close();
  });
});
