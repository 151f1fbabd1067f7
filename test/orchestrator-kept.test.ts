/**
 * The orchestrator keeps the deployment it last wrote and reads back only the row's time and
 * cancellation flag: what another writer changes must still reach the next step.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planDeployment, type Deployment } from '../src/core/index.js';
import { openStore, type Store } from '../src/store/index.js';
import type { DeploymentSteps } from '../src/server/app/deployment-step.js';
import { UnitOfWork } from '../src/server/app/unit-of-work.js';
import { Orchestrator } from '../src/server/orchestrator.js';

describe('the deployment the orchestrator keeps', () => {
  let store: Store;
  let o: Orchestrator;
  /** What each step was given, and what it should write (null: nothing changed). */
  const given: Deployment[] = [];
  /** The hosts each step was told to look at (null: every one). */
  const looked: (string[] | null)[] = [];
  let changed = new Set<string>();
  let clock = 1_000_000;
  let write: ((d: Deployment) => Deployment) | null = null;
  let movedNext = (_d: Deployment): Deployment['hosts'] => [];
  const reads = { whole: 0 };

  beforeAll(async () => {
    store = await openStore({ engine: 'pglite', dataDir: null });
    // Whole reads counted in the orchestrator's transactions.
    const counted = (tx: Store) => {
      const whole = tx.deployments.getForUpdate.bind(tx.deployments);
      tx.deployments.getForUpdate = (id) => (reads.whole++, whole(id));
      return tx;
    };
    const transaction = store.transaction.bind(store);
    store.transaction = <T>(fn: (tx: Store) => Promise<T>) => transaction((tx) => fn(counted(tx)));
    const steps = {
      take: (
        _work: unknown,
        d: Deployment,
        _now: number,
        _notBefore: number,
        hosts: ReadonlySet<string> | null,
      ) => {
        given.push(d);
        looked.push(hosts && [...hosts]);
        const next = write ? write(d) : null;
        return Promise.resolve(next && { deployment: next, moved: movedNext(next) });
      },
      takeChanged: () => {
        const taken = changed;
        changed = new Set();
        return taken;
      },
    } as unknown as DeploymentSteps;
    o = new Orchestrator({
      store,
      uow: new UnitOfWork(store),
      steps,
      tickMs: 3_600_000,
      now: () => clock,
    });
    o.start();
    while (!o.isLeading) await new Promise((r) => setTimeout(r, 5));
    await o.pass(); // the first, kicked on taking the lead, with nothing to step
  });
  afterAll(async () => {
    await o.stop();
    await store.close();
  });

  it('reads the whole document only when another writer wrote the row', async () => {
    const d = planDeployment({
      id: 'kept-1',
      service: 'svc',
      environment: 'prod',
      kind: 'deploy',
      release: 2,
      hosts: [{ id: 'h1', name: 'alpha', region: 'eu', labels: {} }],
      previous: new Map(),
      rollout: { batchSize: { count: 1 }, failureThreshold: { count: 0 } },
    });
    await store.deployments.add(d, 'c'.repeat(64));

    // First step: the whole row is read; the step writes a deadline.
    write = (x) => ({ ...x, deadline: 1_000 });
    await o.pass();
    expect(reads.whole).toBe(1);
    expect(given.at(-1)!.deadline).toBeNull();

    expect(looked.at(-1)).toBeNull();

    // Nobody else wrote: the next step gets what was written, without reading the document,
    // and looks only at the hosts whose reports changed since the last pass.
    write = null;
    changed = new Set(['h1']);
    await o.pass();
    expect(reads.whole).toBe(1);
    expect(given.at(-1)!.deadline).toBe(1_000);
    expect(looked.at(-1)).toEqual(['h1']);
    await o.pass();
    expect(reads.whole).toBe(1);
    expect(looked.at(-1)).toEqual([]);

    // The hosts a step moved are looked at by the next, changed or not.
    write = (x) => ({ ...x, reason: 'moved one' });
    movedNext = (x) => x.hosts;
    await o.pass();
    write = null;
    movedNext = () => [];
    await o.pass();
    expect(looked.at(-1)).toEqual(['h1']);
    await o.pass();
    expect(looked.at(-1)).toEqual([]);

    // Every host again once in a while: a change missed costs at most that long.
    clock += 15_000;
    await o.pass();
    expect(looked.at(-1)).toBeNull();
    await o.pass();
    expect(looked.at(-1)).toEqual([]);

    // A cancellation (another writer): seen by the next step.
    const row = (await store.deployments.get('kept-1'))!;
    await store.deployments.update({ ...row.deployment, cancelRequested: true });
    await o.pass();
    expect(given.at(-1)!.cancelRequested).toBe(true);
    expect(reads.whole).toBe(2);
    // Read whole: looked at whole.
    expect(looked.at(-1)).toBeNull();

    // Any other change by another writer is read whole, too.
    await store.deployments.update({ ...row.deployment, cancelRequested: true, reason: 'edited' });
    await o.pass();
    expect(given.at(-1)!.reason).toBe('edited');
    expect(reads.whole).toBe(3);
  });
});
